"""The project's Brevitas quantizers: small subclasses of the ones Brevitas ships (see brevitas/quant/binary.py).

Binarization follows the poster: b = sign(x) (+1 for x >= 0), X ~ alpha * B with alpha = mean(|X|), and the
straight-through estimator g_r = g_q * 1{|r| <= 1}.
"""

from brevitas.core.quant import BinaryQuant
from brevitas.inject.enum import ScalingImplType, StatsOp
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerChannelFloat
from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst


class BinaryWeightMeanAbs(SignedBinaryWeightPerTensorConst):
    """+-alpha weights, alpha = mean |W| per output channel (the poster's Eq. 2, XNOR-Net's beta).

    The latent float weights are kept in [-1, 1] by `clip_weights()` after each step, so the plain sign STE
    (gradient passed where |w| <= 1) is the poster's Eq. 5 for weights.

    >>> from brevitas.nn import QuantLinear
    >>> fc = QuantLinear(16, 4, bias=False, weight_quant=BinaryWeightMeanAbs)
    """

    tensor_quant = BinaryQuant
    scaling_impl_type = ScalingImplType.STATS
    scaling_stats_op = StatsOp.AVE  # AbsAve: mean of |W|
    scaling_per_output_channel = True


class BinaryAct(SignedBinaryActPerTensorConst):
    """sign(x) in {-1, +1} with the clipped STE: the input is clamped to [-1, 1], so the gradient is
    g * 1{|x| <= 1} (poster Eq. 5). Used where a batch norm follows, which absorbs any activation scale.

    >>> from brevitas.nn import QuantIdentity
    >>> act = QuantIdentity(act_quant=BinaryAct)
    """


class BinaryActLearnedScale(SignedBinaryActPerTensorConst):
    """beta * sign(x) with a learned per-tensor beta: the input scale of the binary LSTM's d_t = [x_t, h_t-1]
    (the poster approximates W d_t by alpha W^b beta d^b_t). The STE clip is at |x| <= beta."""

    scaling_impl_type = ScalingImplType.PARAMETER
    scaling_init = 1.0


class FeatureQuant8(Int8ActPerTensorFixedPoint):
    """Signed 8-bit input features with the constant scale 2^-5: z-scored features in [-4, 4) become
    integers in [-128, 127]. The first binary conv layer multiplies these integers by +-1 weights."""

    scaling_impl_type = ScalingImplType.CONST
    scaling_const = 4.0
    min_val = -4.0
    max_val = 4.0


class IntWeightPerChannel(Int8WeightPerChannelFloat):
    """Signed integer weights, narrow range (+-(2^(b-1) - 1)), one float scale per output channel (max |W| over
    the channel / the largest code): the first conv's weights when `first_conv_weight_bits` > 1, the FC and
    output layers' when `head_weight_bits` > 1. Set the width with `weight_bit_width=b`. The scale folds into
    the layer's thresholds exactly as the binary alpha does.

    >>> from brevitas.nn import QuantConv2d
    >>> conv = QuantConv2d(3, 8, 3, bias=False, weight_quant=IntWeightPerChannel, weight_bit_width=8)
    """
