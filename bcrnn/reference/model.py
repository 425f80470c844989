"""The whole deployed BCRNN in integers and bits (numpy only): the golden model.

    features (3 x 300 x 40 float) -> int8 codes -> conv (int8 x +-1, thresholds) -> max-pool (OR) ->
    [binary convs (XNOR-popcount, thresholds)] -> per-frame dense (XNOR-popcount, thresholds) ->
    BiLSTM (bcrnn.fixed_point) -> sum over time of +-1 -> FC (int x +-1, thresholds) ->
    output layer (XNOR-popcount, fixed-point affine) -> integer logits (scale 2^-16)

(A model trained with `first_conv_weight_bits` or `head_weight_bits` > 1 has integer weight codes in those layers
instead of +-1: the same integer arithmetic with wider products.)

`forward(..., trace=True)` also returns the stream at every layer boundary, for layer-by-layer comparison.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcrnn.fixed_point import LSTMFormat
from bcrnn.reference.bits import pack_bits, xnor_popcount_dot
from bcrnn.reference.lstm import run_bilstm
from bcrnn.reference.packed_file import load_packed


def quantize_features(normalized: np.ndarray, input_scale: float = 2.0**-5) -> np.ndarray:
    """Signed 8-bit codes of z-scored features: round half to even (as torch.round), saturate to [-128, 127]."""
    return np.clip(np.round(np.asarray(normalized, np.float32) / np.float32(input_scale)), -128, 127).astype(
        np.int64)


def threshold(acc: np.ndarray, t: np.ndarray, direction: np.ndarray, channel_axis: int) -> np.ndarray:
    """Output bits of a thresholded layer: acc >= T (direction +1) or acc <= T (direction -1), per channel."""
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    t, d = t.reshape(shape), direction.reshape(shape)
    return np.where(d > 0, acc >= t, acc <= t).astype(np.uint8)


def layer_weights(params: dict, name: str) -> np.ndarray:
    """A layer's weights as int64: +-1 from its `{name}_weight_bits`, or its `{name}_weight_codes` for the layers
    a model may keep wider (`first_conv_weight_bits`, `head_weight_bits`)."""
    if f"{name}_weight_codes" in params:
        return np.asarray(params[f"{name}_weight_codes"], np.int64)
    return 2 * np.asarray(params[f"{name}_weight_bits"], np.int64) - 1


def _windows(x: np.ndarray, kt: int, kf: int) -> np.ndarray:
    """(C, T, F) padded input -> (T', F', C * kt * kf) patches in (c, kt, kf) order, as torch's weights."""
    c, t, f = x.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kt, kf), axis=(1, 2))  # (C, T', F', kt, kf)
    return win.transpose(1, 2, 0, 3, 4).reshape(t - kt + 1, f - kf + 1, c * kt * kf)


def _or_pool(bits: np.ndarray, pt: int, pf: int) -> np.ndarray:
    c, t, f = bits.shape
    t2, f2 = t // pt, f // pf
    return bits[:, : t2 * pt, : f2 * pf].reshape(c, t2, pt, f2, pf).max(axis=(2, 4))


@dataclass
class ReferenceBCRNN:
    params: dict
    meta: dict

    @classmethod
    def load(cls, path: str | Path) -> "ReferenceBCRNN":
        """From a `model.packed.npz` file."""
        return cls.from_arrays(load_packed(path))

    @classmethod
    def from_arrays(cls, arrays: dict) -> "ReferenceBCRNN":
        arrays = dict(arrays)
        return cls(arrays, json.loads(str(arrays.pop("meta"))))

    @property
    def classes(self) -> list[str]:
        return self.meta["classes"]

    @property
    def normalization(self) -> str:
        """"global" (the stored statistics), "speaker" (the caller passes the speaker's own statistics) or
        "utterance" (every utterance's own statistics, computed here: see `utterance_stats`)."""
        return self.meta.get("normalization", "global")

    def utterance_stats(self, features: np.ndarray, stats=None):
        """The statistics one utterance's (3, frames, mels) features are z-scored with: in utterance mode its
        own; otherwise `stats` (the speaker's, in speaker mode) or None (the stored ones)."""
        if self.normalization != "utterance":
            return stats
        from bcrnn.features import Normalizer

        return Normalizer.from_features([features], "utterance")

    def normalize(self, features: np.ndarray, stats=None) -> np.ndarray:
        """z-score with `stats` (anything with .mean/.std, e.g. a Normalizer of the speaker's utterances) or,
        without, with the stored statistics (global mode; in speaker mode the training speakers' pooled ones)."""
        mean, std = (self.params["norm_mean"], self.params["norm_std"]) if stats is None else (stats.mean, stats.std)
        return ((features - mean) / std).astype(np.float32)

    def forward(self, codes: np.ndarray, trace: bool = False):
        """One segment's int8 feature codes (3, frames, mels) -> integer logits (classes,) [, boundary streams]."""
        p, cfg = self.params, self.meta["model_config"]
        fmt = LSTMFormat(**self.meta["lstm_format"])
        streams = {"input": codes}
        x = np.asarray(codes, dtype=np.int64)
        for i, (ch, kt, kf, pt, pf) in enumerate(cfg["conv"]):
            pad = ((0, 0), (kt // 2, kt // 2), (kf // 2, kf // 2))
            if i == 0:  # 8-bit input: zero padding, integer x (+-1 or integer code) products (exact in float64)
                patches = _windows(np.pad(x, pad), kt, kf).astype(np.float64)
                w = layer_weights(p, "conv0").reshape(ch, -1).astype(np.float64)
                acc = np.einsum("tfk,ok->otf", patches, w).astype(np.int64)
            else:  # bits: padding with bit 0 (-1), XNOR-popcount
                w = p[f"conv{i}_weight_bits"]
                patches = _windows(np.pad(x, pad), kt, kf)
                acc = xnor_popcount_dot(pack_bits(patches), pack_bits(w.reshape(ch, -1)), patches.shape[-1])
                acc = acc.transpose(2, 0, 1)
            bits = threshold(acc, p[f"conv{i}_threshold"], p[f"conv{i}_direction"], channel_axis=0)
            x = _or_pool(bits, pt, pf)
            streams[f"conv{i}"] = x
        c, t, f = x.shape
        frames = x.transpose(1, 2, 0).reshape(t, f * c)  # frequency-major, channels innermost (NHWC)
        acc = xnor_popcount_dot(pack_bits(frames), pack_bits(p["dense_weight_bits"]), f * c)
        dense = threshold(acc, p["dense_threshold"], p["dense_direction"], channel_axis=1)
        streams["dense"] = dense
        lstm = run_bilstm(*[(p[f"lstm_{d}_weight_bits"], p[f"lstm_{d}_mult"], p[f"lstm_{d}_offset"])
                            for d in ("fwd", "bwd")], fmt, dense)
        streams["lstm"] = lstm
        pooled = (2 * lstm.astype(np.int64) - 1).sum(axis=0)  # integer in [-T, T]
        streams["pool"] = pooled
        acc = pooled @ layer_weights(p, "fc").T
        fc = threshold(acc, p["fc_threshold"], p["fc_direction"], channel_axis=0)
        streams["fc"] = fc
        if "out_weight_bits" in p:
            dot = xnor_popcount_dot(pack_bits(fc), pack_bits(p["out_weight_bits"]), fc.shape[0])
        else:  # integer weight codes (head_weight_bits > 1) times the +-1 inputs
            dot = layer_weights(p, "out") @ (2 * fc.astype(np.int64) - 1)
        logits = p["out_mult"] * dot + p["out_offset"]
        streams["logits"] = logits
        return (logits, streams) if trace else logits

    @property
    def logit_tolerance(self) -> float:
        """The largest distance between these fixed-point logits (scale 2^-logit_frac) and the float64 affine they
        stand for: half a step of the rounded offset plus half a step of the rounded multiplier per unit of the
        largest possible |dot|, rounded up."""
        step = 2.0 ** -self.meta["logit_frac"]
        return step * (1 + np.abs(layer_weights(self.params, "out")).sum(axis=1).max())

    def predict_features(self, features: np.ndarray, stats=None) -> np.ndarray:
        """Class probabilities of one utterance from its raw (3, frames, mels) features: every 3-s segment
        through the integer network, segment posteriors averaged (as the training evaluation does).
        `stats`: the speaker's normalization statistics (see `normalize`; utterance mode takes the utterance's)."""
        from bcrnn.features import FeatureConfig, segment

        segments = segment(features, FeatureConfig(**self.meta["feature_config"]))
        stats = self.utterance_stats(features, stats)
        logits = np.stack([self.forward(quantize_features(self.normalize(s, stats))) for s in segments])
        return self.probabilities(logits).mean(axis=0)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        z = np.asarray(logits, np.float64) / 2.0 ** self.meta["logit_frac"]
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


def ensemble_posteriors(models: list, features: np.ndarray, speaker_stats=None) -> np.ndarray:
    """Class probabilities of one utterance by an ensemble of ReferenceBCRNNs or PackedEngines (the same integers):
    every member's `predict_features`, averaged. Members
    trained with speaker normalization get `speaker_stats` (the speaker's own statistics), the others their
    stored training statistics."""
    return np.mean([m.predict_features(features, speaker_stats if m.normalization == "speaker" else None)
                    for m in models], axis=0)
