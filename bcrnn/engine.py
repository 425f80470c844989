"""The packed 1-bit CPU engine: `model.packed.npz` run fast on a CPU, without torch, bit-exact with the reference.

The arithmetic is bcrnn.reference's (docs/numeric_spec.md); only the schedule differs:
- convolutions run in a numba kernel fused with max-pool and threshold (float32 on integers below 2^24: exact);
- binary layers are XNOR-popcount on 64-bit words, or +-1 float32 matrix products where BLAS is faster (exact);
- the LSTM recurrence runs in a numba-compiled loop: per step, XNOR-popcount of the hidden word(s) with each
  gate row, the fixed-point gates from the tables, the cell update, the hidden bits back into a word.
numba comes with librosa; its kernels are compiled on first use and cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bcrnn.fixed_point import LSTMFormat, sigmoid_table, tanh_table
from bcrnn.reference.bits import pack_bits
from bcrnn.reference.model import ReferenceBCRNN, layer_weights, quantize_features, threshold


@njit(cache=True, inline="always")
def _popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True)
def _lstm_direction(dot_x, w_h, hidden, mult, offset, sig, tanh, pre_frac_shift, lo, hi, gate_bits, prod_shift,
                    c_lo, c_hi, reverse):
    """dot_x: (T, 4H) x-part dot products; w_h: (4H, words) packed hidden weights -> (T, H) output bits."""
    t_len, rows = dot_x.shape
    words = w_h.shape[1]
    pad = words * 64 - hidden
    h_words = np.zeros(words, dtype=np.uint64)
    for k in range(hidden):  # h_0 bits all ones
        h_words[k // 64] |= np.uint64(1) << np.uint64(k % 64)
    c = np.zeros(hidden, dtype=np.int64)
    out = np.zeros((t_len, hidden), dtype=np.uint8)
    code = np.zeros(rows, dtype=np.int64)
    half_k = 1 << (pre_frac_shift - 1)
    g_half = 1 << (gate_bits - 1)
    p_half = 1 << (prod_shift - 1)
    for step in range(t_len):
        s = t_len - 1 - step if reverse else step
        for r in range(rows):
            matches = 0
            for w in range(words):
                matches += _popcount64(~(h_words[w] ^ w_h[r, w]))
            dot = dot_x[s, r] + 2 * (np.int64(matches) - pad) - hidden
            v = (mult[r] * dot + offset[r] + half_k) >> pre_frac_shift
            code[r] = min(max(v, lo), hi) - lo
        new_words = np.zeros(words, dtype=np.uint64)
        for j in range(hidden):
            i_g = sig[code[j]]
            f_g = sig[code[hidden + j]]
            g_g = tanh[code[2 * hidden + j]]
            o_g = sig[code[3 * hidden + j]]
            cj = ((f_g * c[j] + g_half) >> gate_bits) + ((i_g * g_g + p_half) >> prod_shift)
            cj = min(max(cj, c_lo), c_hi)
            c[j] = cj
            if o_g == 0 or cj >= 0:
                out[s, j] = 1
                new_words[j // 64] |= np.uint64(1) << np.uint64(j % 64)
        h_words = new_words
    return out


@njit(cache=True, fastmath=True)  # fastmath is exact here: every partial sum is an integer below 2^24
def _conv_pool_threshold(x, w, thr, kt, kf, pt, pf, t_out, f_out):
    """Direct convolution of one padded segment x (C, T + kt - 1, F + kf - 1) with direction-folded weights
    w (C kt kf, ch) (+-1, or integer codes), max over pt x pf windows, then >= thr: (t_out, f_out, ch) of +-1.
    No im2col copy; each weight row is loaded once per pooling window and applied to its pt x pf positions."""
    c_in = x.shape[0]
    taps, ch = w.shape
    npos = pt * pf
    out = np.empty((t_out, f_out, ch), dtype=np.float32)
    acc = np.empty((npos, ch), dtype=np.float32)
    for to in range(t_out):
        for fo in range(f_out):
            acc[:, :] = 0.0
            k = 0
            for c in range(c_in):
                for i in range(kt):
                    for j in range(kf):
                        for dt in range(pt):
                            for df in range(pf):
                                v = x[c, to * pt + dt + i, fo * pf + df + j]
                                p = dt * pf + df
                                for o in range(ch):
                                    acc[p, o] += v * w[k, o]
                        k += 1
            for o in range(ch):
                b = acc[0, o]
                for p in range(1, npos):
                    b = max(b, acc[p, o])
                out[to, fo, o] = 1.0 if b >= thr[o] else -1.0
    return out


class PackedEngine:
    """Load once, then `logits(normalized_segments)` or `predict_features(features)`; no torch anywhere."""

    def __init__(self, ref: ReferenceBCRNN):
        self.ref, p, cfg = ref, ref.params, ref.meta["model_config"]
        self.cfg, self.fmt = cfg, LSTMFormat(**ref.meta["lstm_format"])
        self.sig, self.tanh = sigmoid_table(self.fmt), tanh_table(self.fmt)
        # Each threshold's direction d is folded into its weights: d acc >= d T is acc >= T or acc <= T, and a
        # max over a pooling window of d acc, thresholded once, is the OR of the window's bits.
        self.conv_pm1, self.conv_t = [], []
        for i in range(len(cfg["conv"])):
            # +-1 (or the first conv's integer codes: |acc| <= 45 x 128 x 127 < 2^24, still exact in float32)
            w = layer_weights(p, f"conv{i}").astype(np.float64)
            d = p[f"conv{i}_direction"]
            self.conv_pm1.append((w.reshape(len(w), -1) * d[:, None]).astype(np.float32).T.copy())
            self.conv_t.append((p[f"conv{i}_threshold"] * d).astype(np.float32))
        d = p["dense_direction"]
        self.dense_pm1 = ((2.0 * p["dense_weight_bits"] - 1) * d[:, None]).astype(np.float32).T.copy()
        self.dense_t = (p["dense_threshold"] * d).astype(np.float32)
        self.lstm = {}
        d = p["dense_weight_bits"].shape[0]
        for name in ("lstm_fwd", "lstm_bwd"):
            w = p[f"{name}_weight_bits"]
            self.lstm[name] = ((2.0 * w[:, :d] - 1).astype(np.float32).T.copy(), pack_bits(w[:, d:]),
                               p[f"{name}_mult"].astype(np.int64), p[f"{name}_offset"].astype(np.int64))
        self.fc_pm1 = layer_weights(p, "fc").T.copy()  # +-1, or integer codes (head_weight_bits)
        self.out_pm1 = layer_weights(p, "out").T.copy()

    @classmethod
    def load(cls, path) -> "PackedEngine":
        return cls(ReferenceBCRNN.load(path))

    @property
    def normalization(self) -> str:
        """As ReferenceBCRNN.normalization: "speaker" when the caller must pass the speaker's own statistics."""
        return self.ref.normalization

    def logits(self, normalized: np.ndarray) -> np.ndarray:
        """(S, 3, frames, mels) z-scored segments -> (S, classes) integer logits (scale 2^-16)."""
        p, cfg, fmt = self.ref.params, self.cfg, self.fmt
        x = quantize_features(normalized).astype(np.float32)
        for i, (ch, kt, kf, pt, pf) in enumerate(cfg["conv"]):
            pad_value = 0.0 if i == 0 else -1.0
            xp = np.pad(x, ((0, 0), (0, 0), (kt // 2, kt // 2), (kf // 2, kf // 2)), constant_values=pad_value)
            t, f = x.shape[2] // pt, x.shape[3] // pf
            x = np.stack([_conv_pool_threshold(seg, self.conv_pm1[i], self.conv_t[i], kt, kf, pt, pf, t, f)
                          for seg in xp]).transpose(0, 3, 1, 2)  # (S, ch, T', F') of +-1
        s, c, t, f = x.shape
        frames = x.transpose(0, 2, 3, 1).reshape(s, t, f * c)
        dense_acc = (frames.reshape(s * t, f * c) @ self.dense_pm1).reshape(s, t, -1)
        dense_pm1 = np.where(dense_acc >= self.dense_t, np.float32(1), np.float32(-1))
        lo, hi = -(2 ** (fmt.pre_bits - 1)), 2 ** (fmt.pre_bits - 1) - 1
        logits = np.zeros((s, len(p["out_mult"])), dtype=np.int64)
        for k in range(s):
            outs = []
            for name, reverse in (("lstm_fwd", False), ("lstm_bwd", True)):
                w_x, w_h, mult, offset = self.lstm[name]
                dot_x = (dense_pm1[k] @ w_x).astype(np.int64)
                outs.append(_lstm_direction(dot_x, w_h, len(mult) // 4, mult, offset, self.sig, self.tanh,
                                            fmt.scale_frac, lo, hi, fmt.gate_bits, fmt.product_shift,
                                            -(fmt.cell_max + 1), fmt.cell_max, reverse))
            lstm = np.concatenate(outs, axis=1)
            pooled = (2 * lstm.astype(np.int64) - 1).sum(axis=0)
            fc = threshold(pooled @ self.fc_pm1, p["fc_threshold"], p["fc_direction"], channel_axis=0)
            dot = (2 * fc.astype(np.int64) - 1) @ self.out_pm1
            logits[k] = p["out_mult"] * dot + p["out_offset"]
        return logits

    def predict_features(self, features: np.ndarray, stats=None) -> np.ndarray:
        """Class probabilities of one utterance (raw (3, frames, mels) features), as the reference computes them
        (`stats`: the speaker's normalization statistics for a model trained with per-speaker normalization)."""
        from bcrnn.features import FeatureConfig, segment

        segs = segment(features, FeatureConfig(**self.ref.meta["feature_config"]))
        normalized = self.ref.normalize(segs, self.ref.utterance_stats(features, stats))
        return self.ref.probabilities(self.logits(normalized)).mean(axis=0)

