"""Bit packing and XNOR-popcount dot products on 64-bit words."""

from __future__ import annotations

import numpy as np


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(..., N) array of 0/1 -> (..., ceil(N/64)) uint64 words, bit j of word k = element 64 k + j."""
    bits = np.asarray(bits, dtype=np.uint8)
    n = bits.shape[-1]
    words = -(-n // 64)
    padded = np.zeros(bits.shape[:-1] + (words * 64,), dtype=np.uint8)
    padded[..., :n] = bits
    as_bytes = np.packbits(padded.reshape(bits.shape[:-1] + (words, 8, 8)), axis=-1, bitorder="little")
    return as_bytes.reshape(bits.shape[:-1] + (words, 8)).view(np.uint64).reshape(bits.shape[:-1] + (words,))


def xnor_popcount_dot(a_words: np.ndarray, w_words: np.ndarray, n: int) -> np.ndarray:
    """Bipolar dot products of packed vectors: (..., W) x (R, W) -> (..., R) int64, = 2 popcount(XNOR) - n.

    Padding bits beyond n are 0 in both operands, so XNOR sets them: they are subtracted again.
    """
    pad = a_words.shape[-1] * 64 - n
    xnor = ~(a_words[..., None, :] ^ w_words)
    matches = np.bitwise_count(xnor).sum(axis=-1, dtype=np.int64) - pad
    return 2 * matches - n
