"""Trained BCRNN (torch) -> the integer parameters of the deployed network (numpy arrays, `model.packed.npz`).

Batch norm and every scale fold into one integer threshold per channel: a binary layer's output bit is
`acc >= T` (or `acc <= T` where the folded BN slope is negative, stored as a sign), where acc is the layer's
exact integer accumulator. This is the only place where float parameters become integers; the reference
(bcrnn.reference) and the deployment-mode model (bcrnn.deploy) both read what is computed here.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from brevitas.nn import QuantConv2d, QuantLinear

from bcrnn.models.crnn import CRNN

INPUT_SCALE = 2.0 ** -5  # FeatureQuant8
LOGIT_FRAC = 16  # output-layer affine in fixed point: logits carry 16 fraction bits


def _sign_bits(layer) -> np.ndarray:
    return (layer.weight.detach() >= 0).numpy().astype(np.uint8)  # Brevitas binary_sign: w >= 0 -> +1


def _alpha(layer) -> np.ndarray:
    return layer.quant_weight().scale.detach().double().numpy().reshape(-1)


def fold_threshold(bn: torch.nn.BatchNorm1d | torch.nn.BatchNorm2d, scale: np.ndarray, acc_min: int,
                   acc_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer thresholds T and directions (+1: bit = acc >= T; -1: bit = acc <= T) of sign(BN(scale * acc)).

    Computed in float64; T is clipped to [acc_min - 1, acc_max + 1] so that constant channels stay exact.
    """
    k = (bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)).numpy()
    mu = bn.running_mean.detach().double().numpy()
    b = bn.bias.detach().double().numpy()
    direction = np.where(k < 0, -1, 1).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = (mu - b / k) / scale  # z >= 0  <=>  acc >= bound (k > 0)  or  acc <= bound (k < 0)
    t = np.where(direction > 0, np.ceil(bound), np.floor(bound))
    const = k == 0  # z = b: always on (b >= 0) or never
    t = np.where(const, np.where(b >= 0, acc_min - 1, acc_max + 1), t)
    direction = np.where(const, 1, direction)
    return np.clip(t, acc_min - 1, acc_max + 1).astype(np.int64), direction


def _lstm_params(layer, prefix: str) -> dict:
    fmt = layer.fmt
    one = 2.0 ** (fmt.pre_frac + fmt.scale_frac)
    with torch.no_grad():
        qw = layer.gates.quant_weight()
        beta = layer.input_act.act_quant.scale()
        mult = torch.round(qw.scale.view(-1) * beta * one)  # float32, exactly as the training model computes it
        offset = torch.round(layer.gates.bias * one)
    return {f"{prefix}_weight_bits": _sign_bits(layer.gates), f"{prefix}_mult": mult.numpy().astype(np.int64),
            f"{prefix}_offset": offset.numpy().astype(np.int64)}


@torch.no_grad()
def pack_model(model: CRNN, normalizer: dict, classes, feature_config: dict) -> dict[str, np.ndarray]:
    """Everything the integer model needs, as numpy arrays; `meta` is a JSON string of shapes and formats."""
    cfg = model.cfg
    if not cfg.binary or cfg.lstm_arithmetic != "fixed":
        raise ValueError("only a BCRNN trained with lstm_arithmetic='fixed' has an exact integer deployment")
    model = model.eval()
    out: dict[str, np.ndarray] = {}
    in_scale, in_max, freq, frames, in_ch = INPUT_SCALE, 128, cfg.n_mels, cfg.segment_frames, 3
    for i, block in enumerate(model.convs):
        conv: QuantConv2d = block.conv
        n = conv.weight[0].numel()
        alpha = _alpha(conv)
        acc_max = n * in_max
        t, d = fold_threshold(block.bn, in_scale * alpha, -acc_max, acc_max)
        out[f"conv{i}_weight_bits"] = _sign_bits(conv)  # (out, in, kt, kf)
        out[f"conv{i}_threshold"], out[f"conv{i}_direction"] = t, d
        pt, pf = cfg.conv[i][3], cfg.conv[i][4]
        in_scale, in_max, in_ch, freq, frames = 1.0, 1, conv.out_channels, freq // pf, frames // pt
    fc_in = model.dense.fc.in_features
    t, d = fold_threshold(model.dense.bn, _alpha(model.dense.fc), -fc_in, fc_in)
    out["dense_weight_bits"], out["dense_threshold"], out["dense_direction"] = _sign_bits(model.dense.fc), t, d
    out.update(_lstm_params(model.lstm.fwd, "lstm_fwd"))
    out.update(_lstm_params(model.lstm.bwd, "lstm_bwd"))
    steps = frames
    n = model.fc.in_features
    t, d = fold_threshold(model.fc_bn, _alpha(model.fc) / steps, -n * steps, n * steps)
    out["fc_weight_bits"], out["fc_threshold"], out["fc_direction"] = _sign_bits(model.fc), t, d
    bn = model.out_bn
    k = (bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)).numpy()
    a = k * _alpha(model.out)
    b = bn.bias.double().numpy() - k * bn.running_mean.double().numpy()
    out["out_weight_bits"] = _sign_bits(model.out)
    out["out_mult"] = np.round(a * 2**LOGIT_FRAC).astype(np.int64)
    out["out_offset"] = np.round(b * 2**LOGIT_FRAC).astype(np.int64)
    out["norm_mean"] = np.asarray(normalizer["mean"], np.float32)
    out["norm_std"] = np.asarray(normalizer["std"], np.float32)
    meta = {"model_config": cfg.to_dict(), "classes": list(classes), "feature_config": feature_config,
            "lstm_format": model.lstm.fwd.fmt.to_dict(), "input_scale": INPUT_SCALE, "logit_frac": LOGIT_FRAC,
            "time_steps": steps}
    out["meta"] = np.asarray(json.dumps(meta))
    return out
