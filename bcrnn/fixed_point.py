"""Fixed-point arithmetic of the binary LSTM: the word widths, rounding, saturation and gate tables that the
deployed network uses, shared (numpy only) by the training model and the integer reference.

Per step and per gate row r (rows [i | f | g | o] x hidden units), with d_t = [x_t, h_t-1] in bits:

    dot_r  = 2 * popcount(XNOR(W_r, d_t)) - N                         integer, |dot| <= N = inputs + hidden
    acc_r  = M_r * dot_r + B_r                                        M_r = round(alpha_r beta 2^(P+K)), B_r = round(b_r 2^(P+K))
    p_r    = clamp(floor((acc_r + 2^(K-1)) / 2^K), -2^(Q-1), 2^(Q-1)-1)   pre-activation, Q bits, scale 2^-P
    i,f,o  = SIGMOID[p]   in [0, 2^G - 1],            scale 2^-G        (round half up of sigmoid(p 2^-P) 2^G)
    g      = TANH[p]      in [-(2^(G-1)-1), 2^(G-1)-1], scale 2^-(G-1)
    c'     = sat_C( floor((f c + 2^(G-1)) / 2^G) + floor((i g + 2^(S-1)) / 2^S) ),   S = 2G - 1 - F
             c has C bits (signed, saturating) and scale 2^-F
    h_bit  = 1 if (o == 0 or c' >= 0) else 0                           sign(o tanh(c')), with sign(0) = +1

Every intermediate is an integer below 2^24 in magnitude, so the training model evaluates the same formulas
exactly in float32 and the integer reference (numpy int64) agrees bit for bit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LSTMFormat:
    pre_frac: int = 4  # P: pre-activation scale 2^-4
    pre_bits: int = 8  # Q: pre-activation range [-8, 8)
    scale_frac: int = 8  # K: extra fraction bits of the per-row multiplier M_r and offset B_r
    gate_bits: int = 8  # G: sigmoid gates unsigned 8-bit (scale 2^-8), tanh gate signed 8-bit (scale 2^-7)
    cell_bits: int = 16  # C: cell state signed 16-bit, saturating
    cell_frac: int = 10  # F: cell state scale 2^-10 (range +-32)

    def __post_init__(self):
        if not 0 < self.cell_frac < 2 * self.gate_bits - 1:
            raise ValueError("cell_frac must be in (0, 2 * gate_bits - 1) so that i*g rounds to the cell scale")
        if (2 ** self.gate_bits) * (2 ** (self.cell_bits - 1)) >= 2 ** 24:
            raise ValueError("f * c must stay below 2^24 to be exact in float32 training arithmetic")

    @property
    def product_shift(self) -> int:
        """S: the right shift that brings i*g (scale 2^-(2G-1)) to the cell scale 2^-F."""
        return 2 * self.gate_bits - 1 - self.cell_frac

    @property
    def cell_max(self) -> int:
        return 2 ** (self.cell_bits - 1) - 1

    def to_dict(self) -> dict:
        return asdict(self)


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


def sigmoid_table(fmt: LSTMFormat) -> np.ndarray:
    """SIGMOID[p + 2^(Q-1)] for every pre-activation code p: unsigned G-bit gate values."""
    p = np.arange(-(2 ** (fmt.pre_bits - 1)), 2 ** (fmt.pre_bits - 1), dtype=np.float64) / 2 ** fmt.pre_frac
    v = _round_half_up(2 ** fmt.gate_bits / (1.0 + np.exp(-p)))
    return np.clip(v, 0, 2 ** fmt.gate_bits - 1).astype(np.int64)


def tanh_table(fmt: LSTMFormat) -> np.ndarray:
    """TANH[p + 2^(Q-1)]: signed G-bit values of tanh, symmetric range."""
    p = np.arange(-(2 ** (fmt.pre_bits - 1)), 2 ** (fmt.pre_bits - 1), dtype=np.float64) / 2 ** fmt.pre_frac
    lim = 2 ** (fmt.gate_bits - 1) - 1
    return np.clip(_round_half_up(np.tanh(p) * 2 ** (fmt.gate_bits - 1)), -lim, lim).astype(np.int64)
