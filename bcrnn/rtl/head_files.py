"""Parameters and ROM files of the network's head in hw/rtl/: time_sum (pool over time), int_mvu (the FC layer),
output_argmax (output layer and decision), from a packed model (`bcrnn.packing.pack_model` arrays).

Each function returns the module's parameter dict; file paths are plain strings (quote them for a simulator's
command line, e.g. `cocotb_tools.runner.as_sv_literal`; hw/synth/synth.py quotes them itself).

    params = write_fc_files(packed, pe=4, simd=16, out_dir="build/rtl/fc")      # int_mvu
    params = write_output_files(packed, out_dir="build/rtl/out")                # output_argmax
    per_vector, latency = int_mvu_cycles(128, 64, pe=4, simd=16)                # (129, 137)
    label, logits = unpack_output(word, classes=7, logit_width=params["LW"])    # its output beat
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bcrnn.rtl.memfile import pack_word, unpack_word, write_memh


def signed_width(lo: int, hi: int) -> int:
    """Bits of the smallest two's complement format holding every integer in [lo, hi] (at least 2)."""
    lo, hi = int(lo), int(hi)
    bits = 2
    while not (-(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1))):
        bits += 1
    return bits


def sum_width(steps: int) -> int:
    """time_sum's SW default, $clog2(T + 1) + 1: a signed sum in [-T, T]."""
    return int(steps).bit_length() + 1  # $clog2(T + 1) = bit_length(T)


def label_width(classes: int) -> int:
    """output_argmax's LBW: max(1, clog2(C))."""
    return max(1, (classes - 1).bit_length())


def _meta(packed: dict) -> dict:
    meta = packed.get("meta", "{}")
    return meta if isinstance(meta, dict) else json.loads(str(meta))


def time_steps(packed: dict) -> int:
    """T, the frames the pool sums over (meta['time_steps'])."""
    return int(_meta(packed)["time_steps"])


def time_sum_params(packed: dict) -> dict:
    """time_sum's parameters: N = 2H (the FC layer's inputs), T, SW. No ROMs."""
    steps = time_steps(packed)
    return {"N": int(packed["fc_weight_bits"].shape[1]), "T": steps, "SW": sum_width(steps)}


def write_fc_files(packed: dict, pe: int, simd: int, out_dir: str | Path, in_width: int | None = None) -> dict:
    """int_mvu's ROMs (weights, thresholds, directions; layouts in hw/rtl/int_mvu.sv) and its parameters.

    `in_width` (IW) defaults to time_sum's SW for the model's T."""
    w = np.asarray(packed["fc_weight_bits"], np.uint8)
    t = np.asarray(packed["fc_threshold"], np.int64)
    d = np.asarray(packed["fc_direction"], np.int64)
    mh, n = w.shape
    if mh % pe or n % simd:
        raise ValueError(f"PE ({pe}) must divide the FC outputs ({mh}) and SIMD ({simd}) its inputs ({n})")
    iw = sum_width(time_steps(packed)) if in_width is None else int(in_width)
    tw = signed_width(min(t.min(), 0), max(t.max(), 0))
    nf, sf = mh // pe, n // simd
    out_dir = Path(out_dir)
    tag = f"pe{pe}_simd{simd}"
    words = [pack_word(w[i * pe:(i + 1) * pe, j * simd:(j + 1) * simd].reshape(-1), 1)  # bit p * SIMD + s
             for i in range(nf) for j in range(sf)]
    wf = write_memh(out_dir / f"fc_weights_{tag}.memh", words, pe * simd)
    tf = write_memh(out_dir / f"fc_thresholds_{tag}.memh",
                    [pack_word(t[i * pe:(i + 1) * pe], tw) for i in range(nf)], pe * tw)
    df = write_memh(out_dir / f"fc_directions_{tag}.memh",
                    [pack_word(d[i * pe:(i + 1) * pe] > 0, 1) for i in range(nf)], pe)
    return {"N": n, "MH": mh, "IW": iw, "PE": pe, "SIMD": simd, "TW": tw,
            "WEIGHT_FILE": str(wf), "THRESH_FILE": str(tf), "DIR_FILE": str(df)}


def logit_range(packed: dict) -> tuple[int, int]:
    """The smallest and largest logit M_c dot + B_c over every class and every dot in [-NI, NI]."""
    m = np.asarray(packed["out_mult"], np.int64)
    b = np.asarray(packed["out_offset"], np.int64)
    ni = int(packed["out_weight_bits"].shape[1])
    return int((b - np.abs(m) * ni).min()), int((b + np.abs(m) * ni).max())


def write_output_files(packed: dict, out_dir: str | Path, pe: int = 1, mult_width: int | None = None,
                       offset_width: int | None = None, logit_width: int | None = None) -> dict:
    """output_argmax's ROMs (weights, M_c, B_c; one line per class, layouts in hw/rtl/output_argmax.sv) and its
    parameters. MW, BW and LW default to the smallest widths that hold the model's M, B and every possible logit;
    larger ones may be asked for (one build for several models)."""
    w = np.asarray(packed["out_weight_bits"], np.uint8)
    m = np.asarray(packed["out_mult"], np.int64)
    b = np.asarray(packed["out_offset"], np.int64)
    c, ni = w.shape
    if c % pe:
        raise ValueError(f"PE ({pe}) must divide the classes ({c})")
    mw, bw, lw = signed_width(m.min(), m.max()), signed_width(b.min(), b.max()), signed_width(*logit_range(packed))
    for name, need, asked in (("mult_width", mw, mult_width), ("offset_width", bw, offset_width),
                              ("logit_width", lw, logit_width)):
        if asked is not None and asked < need:
            raise ValueError(f"{name}={asked} is too small for this model: {need} bits needed")
    mw, bw, lw = mult_width or mw, offset_width or bw, logit_width or lw
    out_dir = Path(out_dir)
    wf = write_memh(out_dir / "out_weights.memh", [pack_word(row, 1) for row in w], ni)
    mf = write_memh(out_dir / "out_mult.memh", m.tolist(), mw)
    bf = write_memh(out_dir / "out_offset.memh", b.tolist(), bw)
    return {"NI": ni, "C": c, "PE": pe, "MW": mw, "BW": bw, "LW": lw,
            "WEIGHT_FILE": str(wf), "MULT_FILE": str(mf), "OFFSET_FILE": str(bf)}


def time_sum_cycles(steps: int) -> tuple[int, int]:
    """time_sum back to back: (cycles per sequence, cycles from its last input beat to its output beat) = (T, 2)
    for T >= 2 (the beat is registered, then summed into the output register)."""
    return steps, 2


def int_mvu_cycles(n: int, mh: int, pe: int, simd: int) -> tuple[int, int]:
    """int_mvu back to back: (cycles per vector, cycles from its input beat to its output beat) =
    (NF * SF + 1, NF * SF + LV + 4) with NF = MH / PE, SF = N / SIMD and LV = clog2(SIMD + ceil(SIMD / 4))
    adder-tree levels (SIMD terms and a count of -1 weights per 4)."""
    folds = (mh // pe) * (n // simd)
    levels = (simd + (simd + 3) // 4 - 1).bit_length()  # clog2
    return folds + 1, folds + levels + 4


def output_argmax_cycles(classes: int, pe: int, inputs: int) -> tuple[int, int]:
    """output_argmax back to back: (cycles per vector, cycles from input beat to output beat) =
    (C / PE + 1, C / PE + NST + 5), NST = ceil(LV / 2) register stages of the popcount tree over NI inputs
    (LV = max(1, clog2(ceil(NI / 4))) levels, two per stage)."""
    groups = (int(inputs) + 3) // 4
    levels = max(1, (groups - 1).bit_length())  # clog2
    folds = classes // pe
    return folds + 1, folds + (levels + 1) // 2 + 5


def unpack_output(word: int, classes: int, logit_width: int) -> tuple[int, np.ndarray]:
    """output_argmax's output beat -> (label, logits (classes,) int64): label in the low LBW bits, logit c at
    bits [LBW + c * LW +: LW]."""
    lbw = label_width(classes)
    return int(word) & ((1 << lbw) - 1), unpack_word(int(word) >> lbw, classes, logit_width, signed=True)
