"""The CRNN of the poster (after the 1-conv 3-D ACRNN of Chen et al. 2018) and its binarized twin.

One `CRNNConfig` describes both; `binary=True` swaps every layer for its Brevitas 1-bit version:

    features (3 x 300 x 40) -> [8-bit quant] -> conv blocks (conv, BN, act, pool) -> per-frame dense
    (frequency x maps -> D, BN, act) -> bidirectional LSTM -> pooling over time -> FC (BN, act) -> output layer

Binary version: weights are +-alpha (per output channel), activations are sign() (+-1), the first conv sees
8-bit features, the LSTM gate pre-activation alpha W^b beta d^b_t is a binary matrix-vector product, and the
LSTM's binary output sequence is summed over time (an integer per unit) before the binary FC layers.
All of it folds into integer thresholds at deployment (docs/numeric_spec.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from torch import nn

from bcrnn.fixed_point import LSTMFormat
from bcrnn.models.binary_lstm import BinaryBiLSTM
from bcrnn.models.bipolar import bipolar_linear
from bcrnn.options import option
from bcrnn.quant import BinaryAct, BinaryWeightMeanAbs, FeatureQuant8, IntWeightPerChannel


@dataclass(frozen=True)
class CRNNConfig:
    # conv blocks: (out maps, kernel time, kernel freq, pool time, pool freq); pool 1 = none
    conv: tuple[tuple[int, int, int, int, int], ...] = ((64, 5, 3, 2, 4),)
    # the options among the fields are model settings: `bcrnn train` flags replacing the preset's value, stored
    # in the experiment's model_overrides (bcrnn.options)
    dense: int = option(256, "per-frame dense layer width (the ACRNN's 768)")
    lstm_hidden: int = option(64, "LSTM cells per direction")
    fc: int = option(64, "width of the fully-connected layer before the output")
    pool: str = "mean"  # over time: "mean" or "attention" (attention: full precision only)
    dropout: float = option(0.3, "dropout on the pooled vector, training only")
    n_mels: int = 40
    segment_frames: int = 300
    binary: bool = False
    # The first layer sees 3 real-valued channels (log-Mel, deltas); binary nets usually keep it wider (XNOR-Net,
    # Bi-Real Net), and here it is 2,880 of the model's 1.4 M weights
    first_conv_weight_bits: int = option(1, "BCRNN: weight bits of the first conv: 1 = +-alpha (binary, as the "
                                            "poster), 2-8 = signed integer codes with a scale per output map")
    # the head runs once per segment: cheap in hardware at any width
    head_weight_bits: int = option(1, "BCRNN: weight bits of the FC and output layers: 1 = +-alpha (binary, as the "
                                      "poster), 2-8 = signed integer codes with a scale per output unit")
    # binary LSTM arithmetic: "fixed" = the deployed fixed-point gates and cell state of bcrnn.fixed_point,
    # trained through straight-through estimators (so the integer reference is exact); "float" = float gates
    lstm_arithmetic: str = "fixed"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CRNNConfig":
        d = dict(d)
        d["conv"] = tuple(tuple(c) for c in d["conv"])
        return cls(**d)


_SMALL = CRNNConfig(conv=((64, 5, 3, 2, 4),), dense=256, lstm_hidden=64, fc=64)
# the small conv front end with the paper's per-frame dense width and BiLSTM: binary layers need width more than
# full-precision ones do (docs/ablation.md), and the dense layer and the LSTM are cheap in XNOR hardware, whereas
# the 8-bit x 1-bit first conv is not (FINN's ZU3EG estimate: 32,937 LUT at 1,110 segments/s, of which the conv
# is 13,570)
_WIDE = CRNNConfig(conv=((64, 5, 3, 2, 4),), dense=768, lstm_hidden=128, fc=64)

PRESETS: dict[str, CRNNConfig] = {
    # the 3-D ACRNN 1-conv sizes: 128 maps, 768 dense, BiLSTM 128, FC 64 (~1.9 M parameters)
    "paper": CRNNConfig(conv=((128, 5, 3, 2, 4),), dense=768, lstm_hidden=128, fc=64),
    # CPU-friendly: ~0.34 M parameters, ~15 s per Emo-DB epoch binarized on 2 cores
    "small": _SMALL,
    # ~1.4 M parameters, ~20 s per Emo-DB epoch binarized on one core
    "wide": _WIDE,
    # the hardware preset: conv + dense + LSTM within a ZU3EG (70,560 LUT) at >= 1,000 segments/s by FINN's
    # estimate (finn_build/targets/zu3eg-fast.yaml, checked in tests/test_finn_build.py). It is the wide
    # architecture, the most accurate BCRNN measured (docs/ablation.md), which fits: 32,937 LUT and 96 BRAM_18K
    # at 1,110 segments/s, and two members side by side (the reported pair) 65,874 LUT and 192 BRAM_18K
    # (finn_build/README.md); the open RTL runs it with hw/rtl/folding/zu3eg-wide.yaml.
    "hw": _WIDE,
    # for tests only
    "tiny": CRNNConfig(conv=((8, 5, 3, 2, 4),), dense=16, lstm_hidden=8, fc=8, dropout=0.0),
}


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.01)


def _sign() -> nn.Module:
    return QuantIdentity(act_quant=BinaryAct, return_quant_tensor=False)


class ConvBlock(nn.Module):
    """conv -> BN -> max-pool -> activation. Binary: +-alpha weights and sign().

    Pooling before sign() is the same function as after it (sign is monotone; on bits max-pool is an OR, which is
    how the hardware does it), but it binarizes 8x fewer values and routes the STE gradient to the real maximum.
    """

    real_weights = False  # the first stage of two-stage training (CRNN.use_real_weights)

    def __init__(self, in_ch: int, out_ch: int, kt: int, kf: int, pt: int, pf: int, binary: bool, first: bool,
                 weight_bits: int = 1):
        super().__init__()
        padding = (kt // 2, kf // 2)
        if binary and not first:
            # pad with -1 (bit 0), not 0: a binary input has no zero, and the hardware pads with a bit
            self.pad = nn.ConstantPad2d((kf // 2, kf // 2, kt // 2, kt // 2), -1.0)
            padding = (0, 0)
        else:
            self.pad = nn.Identity()
        if binary and weight_bits > 1:
            self.conv = QuantConv2d(in_ch, out_ch, (kt, kf), padding=padding, bias=False,
                                    weight_quant=IntWeightPerChannel, weight_bit_width=weight_bits)
        elif binary:
            self.conv = QuantConv2d(in_ch, out_ch, (kt, kf), padding=padding, bias=False,
                                    weight_quant=BinaryWeightMeanAbs)
        else:
            self.conv = nn.Conv2d(in_ch, out_ch, (kt, kf), padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = _sign() if binary else _leaky()
        self.pool = nn.MaxPool2d((pt, pf)) if (pt, pf) != (1, 1) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pad(x)
        y = F.conv2d(x, self.conv.weight, padding=self.conv.padding) if self.real_weights else self.conv(x)
        return self.act(self.pool(self.bn(y)))


class FrameDense(nn.Module):
    """The per-time-step dense layer on (frequency x maps), frequency-major so channels are innermost (NHWC)."""

    real_weights = False

    def __init__(self, in_features: int, out_features: int, binary: bool):
        super().__init__()
        if binary:
            self.fc = QuantLinear(in_features, out_features, bias=False, weight_quant=BinaryWeightMeanAbs)
        else:
            self.fc = nn.Linear(in_features, out_features, bias=False)
        self.binary = binary
        self.bn = nn.BatchNorm1d(out_features)
        self.act = _sign() if binary else _leaky()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, F) -> (B, T, D)
        b, c, t, f = x.shape
        x = x.permute(0, 2, 3, 1).reshape(b, t, f * c)
        if self.real_weights:
            y = F.linear(x, self.fc.weight)
        elif self.binary and self.training and not torch.onnx.is_in_onnx_export():
            # training: x is the conv block's +-1 output, so alpha * (x @ sign(W).T) runs as an exact int8 product
            qw = self.fc.quant_weight()
            y = bipolar_linear(x, qw.value / qw.scale) * qw.scale.view(-1)
        else:
            y = self.fc(x)
        y = self.bn(y.transpose(1, 2)).transpose(1, 2)
        return self.act(y)


class AttentionPool(nn.Module):
    """Softmax attention over time (the ACRNN's), full precision only."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, D)
        w = torch.softmax(self.score(h).squeeze(-1), dim=1)
        return (w.unsqueeze(-1) * h).sum(1)


class CRNN(nn.Module):
    real_weights = False  # the first stage of two-stage training (use_real_weights)

    def __init__(self, cfg: CRNNConfig, n_classes: int):
        super().__init__()
        if cfg.binary and cfg.pool != "mean":
            raise ValueError("the binary model pools its +-1 LSTM outputs by a sum over time: use pool='mean'")
        for name in ("first_conv_weight_bits", "head_weight_bits"):
            if not 1 <= getattr(cfg, name) <= 8:
                raise ValueError(f"{name} must be 1 (binary) to 8, not {getattr(cfg, name)}")
        if cfg.pool not in ("mean", "attention"):
            raise ValueError(f"unknown pooling {cfg.pool!r}: use 'mean' or 'attention'")
        self.cfg, self.n_classes = cfg, n_classes
        b = cfg.binary
        self.input_quant = QuantIdentity(act_quant=FeatureQuant8, return_quant_tensor=False) if b else nn.Identity()
        blocks, in_ch, freq, frames = [], 3, cfg.n_mels, cfg.segment_frames
        for i, (ch, kt, kf, pt, pf) in enumerate(cfg.conv):
            blocks.append(ConvBlock(in_ch, ch, kt, kf, pt, pf, binary=b, first=i == 0,
                                    weight_bits=cfg.first_conv_weight_bits if i == 0 else 1))
            in_ch, freq, frames = ch, freq // pf, frames // pt
        self.convs = nn.Sequential(*blocks)
        self.frames = frames
        self.dense = FrameDense(freq * in_ch, cfg.dense, binary=b)
        if cfg.lstm_arithmetic not in ("float", "fixed"):
            raise ValueError(f"unknown lstm_arithmetic {cfg.lstm_arithmetic!r}: use 'fixed' or 'float'")
        if b:
            fmt = LSTMFormat() if cfg.lstm_arithmetic == "fixed" else None
            self.lstm = BinaryBiLSTM(cfg.dense, cfg.lstm_hidden, fmt=fmt)
        else:
            self.lstm = nn.LSTM(cfg.dense, cfg.lstm_hidden, batch_first=True, bidirectional=True)
        self.attention = AttentionPool(2 * cfg.lstm_hidden) if cfg.pool == "attention" else None
        self.dropout = nn.Dropout(cfg.dropout)
        if b:
            head = ({"weight_quant": BinaryWeightMeanAbs} if cfg.head_weight_bits == 1 else
                    {"weight_quant": IntWeightPerChannel, "weight_bit_width": cfg.head_weight_bits})
            self.fc = QuantLinear(2 * cfg.lstm_hidden, cfg.fc, bias=False, **head)
            self.out = QuantLinear(cfg.fc, n_classes, bias=False, **head)
        else:
            self.fc = nn.Linear(2 * cfg.lstm_hidden, cfg.fc, bias=False)
            self.out = nn.Linear(cfg.fc, n_classes, bias=False)
        self.fc_bn = nn.BatchNorm1d(cfg.fc)
        self.fc_act = _sign() if b else _leaky()
        self.out_bn = nn.BatchNorm1d(n_classes)  # the output layer's affine: folds into per-class scale/offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, frames, mels) normalized features -> (B, classes) logits."""
        if not torch.onnx.is_in_onnx_export():
            # channels-last: the conv block's batch norm and max-pool run 1.5-4x faster on CPU in this layout,
            # a training step 25 % (BCRNN) to 35 % (CRNN) faster; the dense layer's NHWC view is then free
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.convs(self.input_quant(x))
        h = self.dense(x)
        h = self.lstm(h) if self.cfg.binary else self.lstm(h)[0]
        pooled = h.mean(1) if self.attention is None else self.attention(h)
        z = self.fc_act(self.fc_bn(self._head(self.fc, self.dropout(pooled))))
        return self.out_bn(self._head(self.out, z))

    def _head(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, layer.weight) if self.real_weights else layer(x)

    def use_real_weights(self, on: bool) -> None:
        """Two-stage training of a BCRNN: with `on`, every layer computes with its real-valued (latent) weights
        while the activations stay binary (the LSTM in float arithmetic, which needs no +-1 weights); off, the
        weights are binarized again. The first stage learns weights that work with binary activations, from which
        the fully binary network starts (Real-to-Binary, ReActNet)."""
        if not self.cfg.binary:
            raise ValueError("real-valued weights are the first stage of a BCRNN's training; this is a CRNN")
        for m in self.modules():
            if hasattr(m, "real_weights"):
                m.real_weights = on

    @torch.no_grad()
    def clip_weights(self, low: float = -1.0, high: float = 1.0) -> None:
        """Keep binary layers' latent weights in [low, high] (BinaryNet's clip; with it, sign's STE is Eq. 5).
        Multi-bit layers (first conv, head) are left alone: their integer quantizer scales with the weights' range."""
        if not self.cfg.binary:
            return
        for m in self.modules():
            if isinstance(m, (QuantConv2d, QuantLinear)) and m.weight_quant.bit_width() == 1:
                m.weight.clamp_(low, high)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


@torch.no_grad()
def init_from_full_precision(model: CRNN, source: CRNN) -> None:
    """Start a BCRNN from a trained full-precision CRNN of the same sizes: its weights become the binary layers'
    latent weights (clipped to [-1, 1]) and its batch norms are copied. Pre-training at full precision, then
    binarizing, is the usual way to give a binary network a better start than a random one (e.g. Bi-Real Net,
    Real-to-Binary). nn.LSTM's (W_ih, W_hh, b_ih + b_hh) become our gate matrix over [x_t | h_t-1] (same i, f, g, o
    row order). The learned activation scales (beta) keep their initial values."""
    if not model.cfg.binary or source.cfg.binary:
        raise ValueError("init_from_full_precision copies a full-precision CRNN into a binary one")
    mine, theirs = replace(model.cfg, binary=False, lstm_arithmetic="fixed", first_conv_weight_bits=1,
                         head_weight_bits=1), \
        replace(source.cfg, lstm_arithmetic="fixed", dropout=model.cfg.dropout)
    if mine != theirs or model.n_classes != source.n_classes:
        raise ValueError(f"the CRNN to start from has other sizes: {theirs} vs {mine}")
    target, src = model.state_dict(), source.state_dict()
    copied = {k: v for k, v in src.items() if k in target and target[k].shape == v.shape}
    for direction, suffix in (("fwd", ""), ("bwd", "_reverse")):
        copied[f"lstm.{direction}.gates.weight"] = torch.cat([src[f"lstm.weight_ih_l0{suffix}"],
                                                              src[f"lstm.weight_hh_l0{suffix}"]], dim=1)
        copied[f"lstm.{direction}.gates.bias"] = src[f"lstm.bias_ih_l0{suffix}"] + src[f"lstm.bias_hh_l0{suffix}"]
    model.load_state_dict(copied, strict=False)
    model.clip_weights()


def load_checkpoint(path) -> tuple[CRNN, dict]:
    """A model rebuilt from a `best.pt` / `model.pt` checkpoint (its stored config and weights), in eval mode,
    and the checkpoint itself (normalizer, classes, fold, ...)."""
    ckpt = torch.load(path, weights_only=False)
    model = build_model(ckpt["kind"], CRNNConfig.from_dict(ckpt["model_config"]), ckpt["n_classes"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def build_model(kind: str, preset: str | CRNNConfig, n_classes: int, **overrides) -> CRNN:
    """`kind` is 'crnn' (full precision) or 'bcrnn' (binary); `preset` a name of PRESETS or a CRNNConfig;
    `overrides` replace fields of the preset (e.g. dense=128)."""
    unknown = set(overrides) - set(CRNNConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown model settings: {', '.join(sorted(unknown))}")
    if kind not in ("crnn", "bcrnn"):
        raise ValueError(f"unknown model {kind!r}: use 'crnn' or 'bcrnn'")
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
        preset = PRESETS[preset]
    cfg = replace(preset, binary=kind == "bcrnn", **overrides)
    return CRNN(cfg, n_classes)
