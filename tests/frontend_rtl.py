"""Helpers of the front-end RTL tests (tests/test_rtl_{conv_window,mvu_int8,maxpool_bits,xnor_mvu,frontend_chain}.py):
the reference's own pieces (bcrnn.reference.model) cut at the front-end blocks' boundaries, the bench data layout of
sim/bench_frontend.py, and the runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from bcrnn.reference.bits import pack_bits, xnor_popcount_dot
from bcrnn.reference.model import _or_pool, _windows, threshold
from bcrnn.rtl.frontend_files import window_order
from sim.runner import HW_RTL, ROOT, run_bench

BUILD = ROOT / "build" / "sim"  # reused between runs with the same sources and parameters (git-ignored)


def windows(image_ctf: np.ndarray, kt: int, kf: int, pt: int, pf: int, pad: int = 0) -> np.ndarray:
    """(C, T, F) image -> (TO*FO, KT*KF*C) windows in conv_window's (kt, kf, c) order, padded with `pad`."""
    c = image_ctf.shape[0]
    padded = np.pad(np.asarray(image_ctf, np.int64), ((0, 0), (pt, pt), (pf, pf)), constant_values=pad)
    win = _windows(padded, kt, kf)  # the reference's (c, kt, kf) order
    return window_order(win, c, kt, kf).reshape(-1, c * kt * kf)


def conv0_acc(packed: dict, codes: np.ndarray) -> np.ndarray:
    """The reference's conv0 accumulators (CH, TO, FO) of one segment's codes (3, T, F)."""
    w = packed["conv0_weight_bits"]
    ch, _, kt, kf = w.shape
    patches = _windows(np.pad(np.asarray(codes, np.int64), ((0, 0), (kt // 2, kt // 2), (kf // 2, kf // 2))), kt, kf)
    return np.einsum("tfk,ok->otf", patches.astype(np.float64), 2.0 * w.reshape(ch, -1) - 1).astype(np.int64)


def conv0_bits(packed: dict, codes: np.ndarray) -> np.ndarray:
    """The conv0 output bits before pooling (CH, TO, FO)."""
    return threshold(conv0_acc(packed, codes), packed["conv0_threshold"], packed["conv0_direction"], channel_axis=0)


def frames(pooled_ctf: np.ndarray) -> np.ndarray:
    """Pooled bits (C, T2, F2) -> dense input frames (T2, F2*C), frequency-major, channels innermost."""
    c, t, f = pooled_ctf.shape
    return pooled_ctf.transpose(1, 2, 0).reshape(t, f * c)


def dots(x_bits: np.ndarray, w_bits: np.ndarray) -> np.ndarray:
    return xnor_popcount_dot(pack_bits(x_bits), pack_bits(w_bits), x_bits.shape[-1])


def or_pool(bits_ctf: np.ndarray, pt: int, pf: int) -> np.ndarray:
    return _or_pool(bits_ctf, pt, pf)


def bench_data(x, x_width, y, y_width, y_signed=False, reset_at=None, cycles=(0, 10**9), pause=(0.3, 0.3)) -> dict:
    """The data layout of sim/bench_frontend.py."""
    x, y = np.asarray(x, np.int64), np.asarray(y, np.int64)
    return {"x": x, "x_width": x_width, "y": y, "y_width": y_width, "y_signed": int(y_signed),
            "reset_at": len(x) // 2 if reset_at is None else reset_at, "cycles_min": cycles[0],
            "cycles_max": cycles[1], "pause_in": pause[0], "pause_out": pause[1]}


def rom_dir(name: str) -> Path:
    """Where a test writes its ROM files: beside its build, so that an unchanged bench reuses the build (the ROMs
    are read when the simulation starts)."""
    return BUILD / name / "rom"


def run(sim: str, toplevel: str, files: list[str], params: dict, name: str, data: dict, testcase=None) -> dict:
    """Build (in a folder named after the parameters too: cocotb's Icarus runner reuses a build whose sources are
    unchanged even when the parameters differ) and run the bench."""
    sources = [HW_RTL / f for f in files]
    tag = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    bench = "sim.bench_frontend_chain" if toplevel == "frontend_chain" else "sim.bench_frontend"
    return run_bench(sim, toplevel, sources, bench, parameters=params,
                     build_dir=BUILD / name / tag, data=data, testcase=testcase)

