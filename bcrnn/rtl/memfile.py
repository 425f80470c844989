"""Memory initialization files for `$readmemh` (one word per line, hex, most significant digit first) and the
packing of bit/int vectors into words with element i at bits [i*W +: W], the convention of every hw/rtl block."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pack_word(values, width: int) -> int:
    """Elements (ints; negative ones in two's complement) -> one integer with element i at bits [i*width +: width]."""
    word, mask = 0, (1 << width) - 1
    for i, v in enumerate(np.asarray(values).reshape(-1).tolist()):
        word |= (int(v) & mask) << (i * width)
    return word


def unpack_word(word: int, count: int, width: int, signed: bool = False) -> np.ndarray:
    """The inverse of pack_word."""
    mask = (1 << width) - 1
    out = np.array([(int(word) >> (i * width)) & mask for i in range(count)], dtype=np.int64)
    if signed:
        out = np.where(out >= 1 << (width - 1), out - (1 << width), out)
    return out


def write_memh(path: str | Path, words, word_bits: int) -> Path:
    """`words` (ints, already packed) as a $readmemh file; the file name says what it holds."""
    digits = max(1, (word_bits + 3) // 4)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = (1 << word_bits) - 1
    return write_if_changed(path, "".join(f"{int(w) & mask:0{digits}x}\n" for w in words))


def write_if_changed(path: str | Path, text: str) -> Path:
    """Write `text` unless the file already holds it: an unchanged source keeps its time stamp, so a simulator
    build that depends on it is reused."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path
