"""hw/rtl/xnor_mvu.sv against the reference's XNOR-popcount (bcrnn.reference.bits.xnor_popcount_dot) and thresholds
(bcrnn.reference.model.threshold): random vectors, all ones and all zeros against all-(+1)/all-(-1) rows, thresholds
at and beyond +-MW, both directions; with activation (MH bits) and with NO_ACTIVATION (MH signed dots), vectors in
several input beats, random stalls, a reset in the middle of a stream, the cycle formula max(NF*SF, NB, 2) per vector;
the output layer of a small-preset model (64 -> 7 dots, NO_ACTIVATION) on the FC bits of all Emo-DB segments; and
the dense layer at the small preset's size (640 -> 256, one frame = 10 beats of 64 bits, PE=8, SIMD=64) on the 150
frames of a real Emo-DB segment on Verilator."""

import numpy as np
import pytest

from bcrnn.reference.model import ReferenceBCRNN, threshold
from bcrnn.rtl.frontend_files import (mvu_cycles_per_vector, write_dense_files, write_xnor_mvu_files,
                                      xnor_dot_width)
from frontend_rtl import bench_data, dots, rom_dir, run

pytestmark = pytest.mark.sim

FILES = ["mvu_control.sv", "xnor_mvu.sv"]
LATENCY = 12


def _cycles(n, mh, mw, pe, simd, in_w):
    per = mvu_cycles_per_vector(mh, mw, pe, simd, mw // in_w)
    return n * per, n * per + mw // in_w + LATENCY


def _weights_and_thresholds(rng, mh, mw):
    w = rng.integers(0, 2, (mh, mw)).astype(np.uint8)
    w[0], w[1] = 1, 0
    t = rng.integers(-mw // 3, mw // 3, mh)
    t[[2, 3, 4, 5]] = [mw, -mw, mw + 1, -mw - 1]
    d = rng.choice([-1, 1], mh)
    d[[2, 3]] = [1, -1]
    return w, t, d


def _vectors(rng, n, mw):
    return np.concatenate([rng.integers(0, 2, (n, mw)), np.ones((2, mw), np.int64), np.zeros((2, mw), np.int64)])


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_xnor_mvu_thresholded_random_extremes_stalls_reset_cycles(sim):
    mw, mh, pe, simd, in_w = 48, 12, 4, 12, 16  # NF = 3 x SF = 4 folds, NB = 3 beats per vector, GS = 5: 5+5+2
    rng = np.random.default_rng(3)
    w, t, d = _weights_and_thresholds(rng, mh, mw)
    x = _vectors(rng, 30, mw)
    y = threshold(dots(x, w), t, d, channel_axis=1)
    name = f"xnor_mvu_small_{sim}"
    p = write_xnor_mvu_files(w, t, d, pe, simd, rom_dir(name), "t", in_w=in_w, gs=5)
    cycles = _cycles(len(x), mh, mw, pe, simd, in_w)
    out = run(sim, "xnor_mvu", FILES, p, name, bench_data(x.reshape(-1, in_w), 1, y, 1, cycles=cycles))
    assert out["tests_passed"] == 3 and out["values"] == y.size == 34 * 12
    assert y[30:, 2:6].any() and not y[30:, 2:6].all()
    print(f"{sim}: {out['cycles']} cycles for {len(x)} vectors (formula {cycles}); {3 * y.size} bits compared")


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_xnor_mvu_no_activation_output_layer_emodb_random_extremes(sim, frontend_small_model):
    """The output layer's shape and weights (64 -> 7 dots, all rows and bits at once, one beat per vector; logit =
    M dot + B): the FC bits of every Emo-DB segment, random vectors, all ones, all zeros, each weight row and its
    complement (dots of +-64)."""
    packed, codes = frontend_small_model
    ref = ReferenceBCRNN.from_arrays(packed)
    traces = [ref.forward(c, trace=True)[1] for c in codes]
    fc = np.stack([tr["fc"] for tr in traces])
    w = packed["out_weight_bits"]
    x = np.concatenate([fc, _vectors(np.random.default_rng(4), 20, 64), w, 1 - w])  # a row itself: dot = +64
    y = dots(x, w)
    logits = packed["out_mult"] * y[: len(fc)] + packed["out_offset"]
    assert np.array_equal(logits, np.stack([tr["logits"] for tr in traces]))
    assert y.min() == -64 and y.max() == 64
    name = f"xnor_mvu_out_{sim}"
    p = write_xnor_mvu_files(w, None, None, 7, 64, rom_dir(name), "out", no_activation=True)
    assert (p["MW"], p["MH"], p["NO_ACTIVATION"]) == (64, 7, 1)
    cycles = _cycles(len(x), 7, 64, 7, 64, 64)
    out = run(sim, "xnor_mvu", FILES, p, name, bench_data(x, 1, y, xnor_dot_width(64), y_signed=True, cycles=cycles))
    assert out["tests_passed"] == 3 and out["values"] == y.size == (len(codes) + 24 + 14) * 7
    print(f"{sim} output layer: {out['cycles']} cycles for {len(x)} vectors (formula {cycles}); "
          f"{3 * y.size} dots compared")


def test_xnor_mvu_small_preset_dense_emodb(frontend_small_model):
    packed, codes = frontend_small_model
    ref = ReferenceBCRNN.from_arrays(packed)
    trace = ref.forward(codes[3], trace=True)[1]
    # the conv0 stream of segment 3 as frames (frequency-major, channels innermost), 10 beats of 64 bits each
    pooled = trace["conv0"]
    assert pooled.shape == (64, 150, 10)
    beats = pooled.transpose(1, 2, 0).reshape(-1, 64)
    y = trace["dense"]
    p = write_dense_files(packed, None, 8, 64, rom_dir("xnor_mvu_dense"))
    assert (p["MW"], p["MH"], p["IN_W"]) == (640, 256, 64)
    cycles = _cycles(150, 256, 640, 8, 64, 64)
    out = run("verilator", "xnor_mvu", FILES, p, "xnor_mvu_dense", bench_data(beats, 1, y, 1, cycles=cycles))
    assert out["tests_passed"] == 3 and out["values"] == y.size == 150 * 256
    assert 0.05 < y.mean() < 0.95
    print(f"verilator dense PE=8 SIMD=64: {out['cycles']} cycles for 150 frames (formula {cycles}); "
          f"{3 * y.size} bits compared")
