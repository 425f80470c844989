"""The binary LSTM in integer arithmetic: the formulas of bcrnn.fixed_point, step by step, on packed bits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcrnn.fixed_point import LSTMFormat, sigmoid_table, tanh_table
from bcrnn.reference.bits import pack_bits, xnor_popcount_dot


@dataclass
class LSTMDirection:
    """Integer parameters of one direction: gate rows [i | f | g | o] x hidden units over [x_t | h_t-1]."""

    weight_bits: np.ndarray  # (4H, D + H) 0/1
    mult: np.ndarray  # (4H,) int64: M_r = round(alpha_r beta 2^(P+K))
    offset: np.ndarray  # (4H,) int64: B_r = round(b_r 2^(P+K))
    reverse: bool
    fmt: LSTMFormat

    @property
    def hidden(self) -> int:
        return self.weight_bits.shape[0] // 4


def run_direction(p: LSTMDirection, x_bits: np.ndarray, trace: bool = False):
    """(T, D) input bits -> (T, H) output bits; with `trace`, also every step's dot, code, gates and cell."""
    fmt, hs = p.fmt, p.hidden
    t_len, d = x_bits.shape
    n = d + hs
    w_words = pack_bits(p.weight_bits)
    sig, tanh = sigmoid_table(fmt), tanh_table(fmt)
    lo, hi = -(2 ** (fmt.pre_bits - 1)), 2 ** (fmt.pre_bits - 1) - 1
    c_lo, c_hi = -(fmt.cell_max + 1), fmt.cell_max
    h = np.ones(hs, dtype=np.uint8)  # sign(h_0 = 0) = +1
    c = np.zeros(hs, dtype=np.int64)
    out = np.zeros((t_len, hs), dtype=np.uint8)
    steps = []
    for s in range(t_len - 1, -1, -1) if p.reverse else range(t_len):
        d_bits = np.concatenate([x_bits[s], h])
        dot = xnor_popcount_dot(pack_bits(d_bits), w_words, n)
        acc = p.mult * dot + p.offset
        code = np.clip((acc + (1 << (fmt.scale_frac - 1))) >> fmt.scale_frac, lo, hi)  # floor division
        i, f, o = sig[code[:hs] - lo], sig[code[hs : 2 * hs] - lo], sig[code[3 * hs :] - lo]
        g = tanh[code[2 * hs : 3 * hs] - lo]
        c = np.clip(((f * c + (1 << (fmt.gate_bits - 1))) >> fmt.gate_bits)
                    + ((i * g + (1 << (fmt.product_shift - 1))) >> fmt.product_shift), c_lo, c_hi)
        h = ((o == 0) | (c >= 0)).astype(np.uint8)
        out[s] = h
        if trace:
            steps.append({"t": s, "dot": dot, "code": code, "i": i, "f": f, "g": g, "o": o, "c": c.copy()})
    return (out, steps) if trace else out


def run_bilstm(fwd, bwd, fmt: LSTMFormat, x_bits: np.ndarray) -> np.ndarray:
    """Both directions on (T, D) or (B, T, D) input bits -> (..., T, 2H) bits, forward then backward.
    `fwd` and `bwd` are (weight bits, M, B), as arrays of any numeric dtype (e.g. ONNX float initializers)."""
    directions = [LSTMDirection(np.asarray(w).astype(np.uint8), np.asarray(m).astype(np.int64),
                                np.asarray(o).astype(np.int64), reverse, fmt)
                  for (w, m, o), reverse in ((fwd, False), (bwd, True))]
    x_bits = np.asarray(x_bits, dtype=np.uint8)
    if x_bits.ndim == 3:
        return np.stack([run_bilstm(fwd, bwd, fmt, seq) for seq in x_bits])
    return np.concatenate([run_direction(d, x_bits) for d in directions], axis=1)
