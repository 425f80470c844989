"""Trained BCRNN (torch) -> the integer parameters of the deployed network (numpy arrays, `model.packed.npz`).

Batch norm and every scale fold into one integer threshold per channel: a binary layer's output bit is
`acc >= T` (or `acc <= T` where the folded BN slope is negative, stored as a sign), where acc is the layer's
exact integer accumulator. This is the only place where float parameters become integers; the reference
(bcrnn.reference) and the engine (bcrnn.engine) read what is computed here, while the deployment-mode model
(bcrnn.deploy) deliberately re-derives it from the torch model, so that a wrong fold shows up as a mismatch.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from brevitas.nn import QuantConv2d

from bcrnn.models.crnn import CRNN

INPUT_SCALE = 2.0 ** -5  # FeatureQuant8
LOGIT_FRAC = 16  # output-layer affine in fixed point: logits carry 16 fraction bits


def _sign_bits(layer) -> np.ndarray:
    return (layer.weight.detach() >= 0).numpy().astype(np.uint8)  # Brevitas binary_sign: w >= 0 -> +1


def _weight_codes(layer) -> np.ndarray:
    """The integer codes of a multi-bit weight quantizer (value = scale x code), exact."""
    qw = layer.quant_weight()
    return torch.round(qw.value / qw.scale).detach().numpy().astype(np.int64)


def _store_weights(out: dict, name: str, layer) -> int:
    """`{name}_weight_bits` (sign bits) of a binary layer, `{name}_weight_codes` (integer codes) of a multi-bit
    one; returns the largest |weight code| (1 for +-1), the factor of the accumulator's range."""
    bits = int(layer.weight_quant.bit_width())
    if bits == 1:
        out[f"{name}_weight_bits"] = _sign_bits(layer)
        return 1
    out[f"{name}_weight_codes"] = _weight_codes(layer)
    return 2 ** (bits - 1) - 1


def _alpha(layer) -> np.ndarray:
    return layer.quant_weight().scale.detach().double().numpy().reshape(-1)


def _bn_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """Batch norm in eval mode as z = k y + c, in float64."""
    k = (bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)).numpy()
    return k, bn.bias.detach().double().numpy() - k * bn.running_mean.detach().double().numpy()


def fold_threshold(bn: torch.nn.BatchNorm1d | torch.nn.BatchNorm2d, scale: np.ndarray, acc_min: int,
                   acc_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer thresholds T and directions (+1: bit = acc >= T; -1: bit = acc <= T) of sign(BN(scale * acc)).

    Computed in float64; T is clipped to [acc_min - 1, acc_max + 1] so that constant channels stay exact.
    """
    k, c = _bn_affine(bn)
    direction = np.where(k < 0, -1, 1).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -c / (k * scale)  # z >= 0  <=>  acc >= bound (k > 0)  or  acc <= bound (k < 0)
    t = np.where(direction > 0, np.ceil(bound), np.floor(bound))
    const = k == 0  # z = c: always on (c >= 0) or never
    t = np.where(const, np.where(c >= 0, acc_min - 1, acc_max + 1), t)
    direction = np.where(const, 1, direction)
    return np.clip(t, acc_min - 1, acc_max + 1).astype(np.int64), direction


@torch.no_grad()
def pack_model(model: CRNN, normalizer: dict, classes, feature_config: dict,
               batch_norm_speaker: str | None = None) -> dict[str, np.ndarray]:
    """Everything the integer model needs, as numpy arrays; `meta` is a JSON string of shapes and formats.
    `batch_norm_speaker`: the speaker whose own batch-norm statistics the thresholds hold (a model trained with
    speaker batch norm, adapted to that speaker); None: the training data's."""
    cfg = model.cfg
    if not cfg.binary or cfg.lstm_arithmetic != "fixed":
        raise ValueError("only a BCRNN trained with lstm_arithmetic='fixed' has an exact integer deployment")
    model = model.eval()
    out: dict[str, np.ndarray] = {}
    in_scale, in_max, frames = INPUT_SCALE, 128, cfg.segment_frames
    for i, block in enumerate(model.convs):
        conv: QuantConv2d = block.conv
        acc_max = conv.weight[0].numel() * in_max * _store_weights(out, f"conv{i}", conv)  # (out, in, kt, kf)
        t, d = fold_threshold(block.bn, in_scale * _alpha(conv), -acc_max, acc_max)
        out[f"conv{i}_threshold"], out[f"conv{i}_direction"] = t, d
        in_scale, in_max, frames = 1.0, 1, frames // cfg.conv[i][3]
    fc_in = model.dense.fc.in_features
    t, d = fold_threshold(model.dense.bn, _alpha(model.dense.fc), -fc_in, fc_in)
    out["dense_weight_bits"], out["dense_threshold"], out["dense_direction"] = _sign_bits(model.dense.fc), t, d
    for direction in ("fwd", "bwd"):  # weight bits, M_r, B_r exactly as the training model computes them
        bits, mult, offset = (t.numpy() for t in model.lstm.integer_parameters(direction))
        out[f"lstm_{direction}_weight_bits"] = bits.astype(np.uint8)
        out[f"lstm_{direction}_mult"], out[f"lstm_{direction}_offset"] = mult.astype(np.int64), offset.astype(np.int64)
    steps = frames
    acc_max = model.fc.in_features * steps * _store_weights(out, "fc", model.fc)
    out["fc_threshold"], out["fc_direction"] = fold_threshold(model.fc_bn, _alpha(model.fc) / steps, -acc_max,
                                                              acc_max)
    k, c = _bn_affine(model.out_bn)
    _store_weights(out, "out", model.out)
    out["out_mult"] = np.round(k * _alpha(model.out) * 2**LOGIT_FRAC).astype(np.int64)
    out["out_offset"] = np.round(c * 2**LOGIT_FRAC).astype(np.int64)
    out["norm_mean"] = np.asarray(normalizer["mean"], np.float32)
    out["norm_std"] = np.asarray(normalizer["std"], np.float32)
    meta = {"model_config": cfg.to_dict(), "classes": list(classes), "feature_config": feature_config,
            "lstm_format": model.lstm.fwd.fmt.to_dict(), "input_scale": INPUT_SCALE, "logit_frac": LOGIT_FRAC,
            "time_steps": steps, "normalization": normalizer.get("mode", "global"),
            "batch_norm_speaker": batch_norm_speaker}
    out["meta"] = np.asarray(json.dumps(meta))
    return out


def pack_enrolled(model: CRNN, checkpoint: dict, segments: np.ndarray, speaker: str) -> dict[str, np.ndarray]:
    """`model` (saved with `checkpoint`) packed with its batch-norm statistics, so its thresholds, measured on
    `segments` (one speaker's normalized segments, no labels): the enrolment of a model trained with speaker batch
    norm, test-time adaptation (AdaBN) of any other BCRNN."""
    from bcrnn.training import adapt_batch_norm

    return pack_model(adapt_batch_norm(model, segments), checkpoint["normalizer"], checkpoint["classes"],
                      checkpoint["feature_config"], speaker)
