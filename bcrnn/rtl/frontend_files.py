"""ROM files and module parameters of the front-end RTL blocks (hw/rtl/): conv_window -> mvu_int8 -> maxpool_bits
(the first conv layer) and xnor_mvu (the dense layer; also the output layer with NO_ACTIVATION=1).

    blocks = write_conv0_files(packed, meta, pe=16, out_dir=d)        # {"conv_window": {...}, "mvu_int8": {...},
                                                                      #  "maxpool_bits": {...}}
    dense = write_dense_files(packed, meta, pe=8, simd=64, out_dir=d)  # xnor_mvu parameters

Window element order (conv_window's output, mvu_int8's input): (kt, kf, c), element e = (kt*KF + kf)*C + c; torch
stores conv weights (out, c, kt, kf), so `conv0_weight_rows` permutes them to (out, kt, kf, c).

mvu_int8 sums ones' complement products (q or ~q = -q - 1), i.e. acc - z with z = the row's -1 weights; its
threshold ROM holds T - z (write_mvu_int8_files does that). A model trained with first_conv_weight_bits = WB > 1
has signed WB-bit codes instead (mvu_int8's WB parameter): plain products, threshold ROM = T.

String parameters (ROM paths) are returned with their double quotes, as the simulators' -P/-G options take them.
Cycle models (the benches assert them; cycles from the first input beat taken to the last output beat taken):
    conv_window alone (input and consumer never stall): TO*(FO+KF-1) + (KT-PT-1)*F + KF-PF per image
    mvu_int8 / xnor_mvu: max(NF*SF, NB, 2) per vector in steady state (NF = rows/PE, SF = cols/SIMD, NB = beats
        per vector, 1 for mvu_int8); idle engine: output beat NF*SF + MVU_INT8_LATENCY (mvu_int8) or
        NF*SF + XNOR_MVU_LATENCY (xnor_mvu) cycles after the vector's last beat
    maxpool_bits: one input pixel per cycle; output beat one cycle after the pixel completing it
    conv layer (mvu_int8 the bottleneck): TO*FO*max(NF*SF, 2) per image (conv0_cycles)
    dense layer: frames * max(NF*SF, NB, 2) (dense_cycles)
    the chain (frontend_chain.sv): frontend_chain_cycles
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from bcrnn.rtl.memfile import pack_word, write_memh

# idle engine: the output beat is taken NF*SF + LATENCY cycles after the vector's last input beat (1 cycle to load
# the work buffer, then the pipeline: mvu_int8 9 stages, xnor_mvu 8, the output register included)
MVU_INT8_LATENCY = 10
XNOR_MVU_LATENCY = 9


def _quoted(path: Path) -> str:
    return f'"{Path(path).resolve()}"'


def _meta(packed: dict, meta: dict | None) -> dict:
    return meta if meta is not None else json.loads(str(packed["meta"]))


def clog2(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


def mvu_int8_acc_width(k: int, w: int = 8, wb: int = 1) -> int:
    """ACC_W of mvu_int8, two's complement: with +-1 weights (wb = 1) its sum acc - z and thresholds T - z (z = -1
    weights of the row, up to K) lie within K 2^(W-1) + K + 1; with wb-bit codes acc and T within
    K 2^(W-1) 2^(wb-1) + 1."""
    if wb == 1:
        return clog2(k * (1 << (w - 1)) + k + 2) + 1
    return clog2(k * (1 << (w - 1)) * (1 << (wb - 1)) + 2) + 1


def xnor_dot_width(mw: int) -> int:
    """DOT_W of xnor_mvu: |dot| <= MW and thresholds up to MW + 1, two's complement."""
    return clog2(mw + 2) + 1


def conv0_weight_rows(weights: np.ndarray) -> np.ndarray:
    """torch-ordered conv weight bits or codes (out, c, kt, kf) -> (out, kt*kf*c) rows in conv_window's (kt, kf, c)
    order."""
    w = np.asarray(weights)
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def window_order(patches_ckk: np.ndarray, c: int, kt: int, kf: int) -> np.ndarray:
    """The reference's (c, kt, kf)-ordered patches (..., C*KT*KF) -> conv_window's (kt, kf, c) order."""
    p = np.asarray(patches_ckk)
    return np.moveaxis(p.reshape(p.shape[:-1] + (c, kt, kf)), -3, -1).reshape(p.shape)


def _fold_words(weights: np.ndarray, pe: int, simd: int, width: int = 1) -> list[int]:
    """ROM words of (rows, cols) weight bits (width 1) or two's complement codes of `width` bits."""
    rows, cols = weights.shape
    if rows % pe or cols % simd:
        raise ValueError(f"PE={pe} must divide {rows} rows and SIMD={simd} must divide {cols} columns")
    return [pack_word(weights[nf * pe:(nf + 1) * pe, sf * simd:(sf + 1) * simd].reshape(-1), width)
            for nf in range(rows // pe) for sf in range(cols // simd)]


def _threshold_words(thresholds, directions, pe: int, width: int) -> list[int]:
    t = np.asarray(thresholds, np.int64).reshape(-1)
    d = np.asarray(directions, np.int64).reshape(-1)
    if t.shape != d.shape or not np.isin(d, (-1, 1)).all():
        raise ValueError("one threshold and one direction (+1 or -1) per row")
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if t.min() < lo or t.max() > hi:
        raise ValueError(f"thresholds outside the {width}-bit range [{lo}, {hi}]")
    entries = [(int(v) & ((1 << width) - 1)) | (int(s > 0) << width) for v, s in zip(t, d)]
    return [pack_word(entries[nf * pe:(nf + 1) * pe], width + 1) for nf in range(len(t) // pe)]


def write_mvu_int8_files(weight_rows: np.ndarray, thresholds, directions, pe: int, simd: int | None, out_dir,
                         prefix: str = "conv0", w: int = 8, wb: int = 1) -> dict:
    """mvu_int8's ROMs from (CH, K) weights in window order: bits (wb = 1) or signed wb-bit codes; returns its
    parameters. With bits the engine sums ones' complement products (q or ~q = -q - 1), i.e. acc - z with z = the
    row's -1 weights: its ROM holds T - z. With codes it sums the products themselves: its ROM holds T."""
    weights = np.asarray(weight_rows, np.int64)
    ch, k = weights.shape
    simd = k if simd is None else simd
    acc_w = mvu_int8_acc_width(k, w, wb)
    if wb == 1:
        zeros = k - weights.sum(axis=1)
    else:
        top = (1 << (wb - 1)) - 1
        if np.abs(weights).max() > top:
            raise ValueError(f"weight codes outside the {wb}-bit narrow range [-{top}, {top}]")
        zeros = 0
    out_dir = Path(out_dir)
    wf = write_memh(out_dir / f"{prefix}_weights.memh", _fold_words(weights, pe, simd, wb), pe * simd * wb)
    tf = write_memh(out_dir / f"{prefix}_thresholds.memh",
                    _threshold_words(np.asarray(thresholds, np.int64) - zeros, directions, pe, acc_w),
                    pe * (acc_w + 1))
    return {"K": k, "W": w, "CH": ch, "PE": pe, "SIMD": simd, "WB": wb, "W_FILE": _quoted(wf), "T_FILE": _quoted(tf)}


def write_conv0_files(packed: dict, meta: dict | None, pe: int, out_dir, simd: int | None = None) -> dict:
    """The first conv layer as conv_window -> mvu_int8 -> maxpool_bits: ROMs in out_dir, parameters per module."""
    cfg = _meta(packed, meta)["model_config"]
    ch, kt, kf, pt, pf = cfg["conv"][0]
    if "conv0_weight_codes" in packed:  # first_conv_weight_bits > 1: signed codes
        w, wb = np.asarray(packed["conv0_weight_codes"], np.int64), cfg["first_conv_weight_bits"]
    else:
        w, wb = np.asarray(packed["conv0_weight_bits"], np.uint8), 1
    c = w.shape[1]
    assert w.shape == (ch, c, kt, kf), w.shape
    t, f = cfg["segment_frames"], cfg["n_mels"]
    window = {"C": c, "W": 8, "T": t, "F": f, "KT": kt, "KF": kf, "PT": kt // 2, "PF": kf // 2, "PAD_VALUE": 0}
    mvu = write_mvu_int8_files(conv0_weight_rows(w), packed["conv0_threshold"], packed["conv0_direction"], pe, simd,
                               out_dir, "conv0", 8, wb)
    to, fo = t + 2 * (kt // 2) - kt + 1, f + 2 * (kf // 2) - kf + 1
    pool = {"C": ch, "T": to, "F": fo, "PT": pt, "PF": pf}
    return {"conv_window": window, "mvu_int8": mvu, "maxpool_bits": pool}


def write_xnor_mvu_files(weight_bits: np.ndarray, thresholds, directions, pe: int, simd: int, out_dir,
                         prefix: str, in_w: int | None = None, no_activation: bool = False, gs: int = 16) -> dict:
    """xnor_mvu's ROMs from (MH, MW) weight bits (1 = +1) and per-row thresholds/directions (ignored, may be None,
    with no_activation); returns its parameters (IN_W defaults to SIMD)."""
    bits = np.asarray(weight_bits, np.uint8)
    mh, mw = bits.shape
    in_w = simd if in_w is None else in_w
    if mw % in_w:
        raise ValueError(f"IN_W={in_w} must divide MW={mw}")
    out_dir = Path(out_dir)
    dot_w = xnor_dot_width(mw)
    wf = write_memh(out_dir / f"{prefix}_weights.memh", _fold_words(bits, pe, simd), pe * simd)
    params = {"MW": mw, "MH": mh, "PE": pe, "SIMD": simd, "IN_W": in_w, "GS": gs,
              "NO_ACTIVATION": int(bool(no_activation)), "W_FILE": _quoted(wf)}
    if not no_activation:
        tf = write_memh(out_dir / f"{prefix}_thresholds.memh",
                        _threshold_words(thresholds, directions, pe, dot_w), pe * (dot_w + 1))
        params["T_FILE"] = _quoted(tf)
    return params


def write_dense_files(packed: dict, meta: dict | None, pe: int, simd: int, out_dir, in_w: int | None = None,
                      gs: int = 16) -> dict:
    """The per-frame dense layer: input beats = pooled pixels (IN_W = conv channels), frame = F2 of them."""
    cfg = _meta(packed, meta)["model_config"]
    in_w = cfg["conv"][-1][0] if in_w is None else in_w
    return write_xnor_mvu_files(packed["dense_weight_bits"], packed["dense_threshold"], packed["dense_direction"],
                                pe, simd, out_dir, "dense", in_w, False, gs)


def frontend_chain_params(packed: dict, meta: dict | None, out_dir, conv_pe: int = 16, dense_pe: int = 8,
                          dense_simd: int = 64, conv_simd: int | None = None, t: int | None = None) -> dict:
    """Parameters of hw/rtl/frontend_chain.sv (conv_window -> mvu_int8 -> maxpool_bits -> xnor_mvu); `t` overrides
    the frames per image (e.g. a shorter test stream)."""
    blocks = write_conv0_files(packed, meta, conv_pe, out_dir, conv_simd)
    dense = write_dense_files(packed, meta, dense_pe, dense_simd, out_dir)
    win, mvu, pool = blocks["conv_window"], blocks["mvu_int8"], blocks["maxpool_bits"]
    return {"C": win["C"], "T": win["T"] if t is None else t, "F": win["F"], "KT": win["KT"], "KF": win["KF"],
            "PT": win["PT"], "PF": win["PF"], "CH": mvu["CH"], "CONV_PE": mvu["PE"], "CONV_SIMD": mvu["SIMD"],
            "CONV_WB": mvu["WB"],
            "POOL_T": pool["PT"], "POOL_F": pool["PF"], "DENSE": dense["MH"], "DENSE_PE": dense["PE"],
            "DENSE_SIMD": dense["SIMD"], "CONV_W_FILE": mvu["W_FILE"], "CONV_T_FILE": mvu["T_FILE"],
            "DENSE_W_FILE": dense["W_FILE"], "DENSE_T_FILE": dense["T_FILE"]}


# ---------------------------------------------------------------- cycle models (the benches assert these)

def conv_window_cycles(t: int, f: int, kt: int, kf: int, pt: int, pf: int) -> int:
    """One image through conv_window when the input and the consumer never stall: the fill until the first window
    ((KT-PT-1)*F + KF-PF input pixels), then TO*(FO+KF-1) column shifts, one per cycle (measured exactly so on the
    small preset's 300 x 40 image: 12,682 cycles)."""
    return (t + 2 * pt - kt + 1) * (f + 2 * pf - kf + 1 + kf - 1) + (kt - pt - 1) * f + kf - pf


def mvu_cycles_per_vector(rows: int, cols: int, pe: int, simd: int, beats: int = 1) -> int:
    """Steady-state cycles per vector of mvu_int8 (beats = 1) and xnor_mvu (beats = MW/IN_W)."""
    return max((rows // pe) * (cols // simd), beats, 2)


def conv0_cycles(t: int, f: int, kt: int, kf: int, ch: int, c: int, pe: int, simd: int | None = None) -> int:
    """Steady-state cycles of the first conv layer for one image (mvu_int8 the bottleneck), fill excluded."""
    k = c * kt * kf
    to, fo = t + 2 * (kt // 2) - kt + 1, f + 2 * (kf // 2) - kf + 1
    return to * fo * mvu_cycles_per_vector(ch, k, pe, k if simd is None else simd)


def dense_cycles(frames: int, mh: int, mw: int, pe: int, simd: int, in_w: int) -> int:
    """Steady-state cycles of the dense layer over `frames` frames."""
    return frames * mvu_cycles_per_vector(mh, mw, pe, simd, mw // in_w)


def frontend_chain_cycles(t: int, f: int, kt: int, kf: int, ch: int, c: int, conv_pe: int, conv_simd: int | None,
                          pool_t: int, pool_f: int, dense_rows: int, dense_pe: int, dense_simd: int) -> int:
    """Cycles of one image through frontend_chain.sv, first input pixel to last dense beat, when the input never
    stalls, the output is always ready and the dense layer keeps pace with the conv (NF*SF of the dense <= the conv
    cycles of POOL_T output rows): the fill until the first window ((KT-PT-1)*F + KF-PF input pixels, 3 cycles to
    fetch, shift and hand it over), the conv at one window per max(NF*SF, 2) cycles, mvu_int8's pipeline, one cycle
    in maxpool_bits, and the dense layer on the last frame."""
    pt, pf = kt // 2, kf // 2
    fo = f + 2 * pf - kf + 1
    frame_bits = (fo // pool_f) * ch
    fill = (kt - pt - 1) * f + kf - pf + 3
    conv = conv0_cycles(t, f, kt, kf, ch, c, conv_pe, conv_simd)
    dense = (dense_rows // dense_pe) * (frame_bits // dense_simd)
    return fill + conv + MVU_INT8_LATENCY + 1 + dense + XNOR_MVU_LATENCY
