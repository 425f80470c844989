"""hw/rtl/mvu_int8.sv against the reference's conv0 arithmetic (acc = sum q * (+-1), bcrnn.reference.model.threshold):
random int8 windows and the extremes (all -128, all +127 against all-(+1) and all-(-1) weight rows, thresholds at
and beyond the accumulator's range, both directions) with random stalls, a reset in the middle of a stream, the
cycle formula max(NF*SF, 2) per window; and the small preset's conv0 (45-element windows of a real Emo-DB segment,
64 channels) on Verilator."""

import numpy as np
import pytest

from bcrnn.reference.model import threshold
from bcrnn.rtl.frontend_files import conv0_weight_rows, mvu_cycles_per_vector, write_mvu_int8_files
from frontend_rtl import bench_data, conv0_bits, rom_dir, run, windows

pytestmark = pytest.mark.sim

FILES = ["mvu_control.sv", "mvu_int8.sv"]
LATENCY = 13  # first input beat to first output beat, and the tail of the last window (cycles)


def _cycles(n, ch, k, pe, simd):
    per = mvu_cycles_per_vector(ch, k, pe, simd)
    return n * per, n * per + LATENCY


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_mvu_int8_random_extremes_stalls_reset_cycles(sim):
    k, ch, pe, simd = 12, 12, 4, 6  # NF = 3 channel folds x SF = 2 element folds
    rng = np.random.default_rng(1)
    w = rng.integers(0, 2, (ch, k)).astype(np.uint8)
    w[0], w[1] = 1, 0
    amax = k * 128
    t = rng.integers(-300, 300, ch)
    t[[2, 3, 4, 5]] = [amax, -amax, amax + 1, -amax - 1]  # reached only by the extremes; constant channels
    d = rng.choice([-1, 1], ch)
    d[[2, 3]] = [1, -1]
    x = np.concatenate([rng.integers(-128, 128, (40, k)), np.full((2, k), -128), np.full((2, k), 127),
                        rng.integers(-128, 128, (4, k))])
    y = threshold(x @ (2 * w.astype(np.int64) - 1).T, t, d, channel_axis=1)
    name = f"mvu_int8_small_{sim}"
    p = write_mvu_int8_files(w, t, d, pe, simd, rom_dir(name), "t")
    out = run(sim, "mvu_int8", FILES, p, name,
              bench_data(x, 8, y, 1, cycles=_cycles(len(x), ch, k, pe, simd)))
    assert out["tests_passed"] == 3 and out["values"] == y.size == 48 * 12
    assert y[40:44, 2:6].any() and not y[40:44, 2:6].all()  # the extreme thresholds matter
    print(f"{sim}: {out['cycles']} cycles for {len(x)} windows, NF*SF = {ch // pe * (k // simd)} "
          f"(formula {_cycles(len(x), ch, k, pe, simd)}); {3 * y.size} bits compared")


def test_mvu_int8_small_preset_conv0_emodb(frontend_small_model):
    packed, codes = frontend_small_model
    rows = 20  # the first 20 of 300 output rows (800 windows) of a real segment
    x = windows(codes[1], 5, 3, 2, 1)[: rows * 40]
    y = conv0_bits(packed, codes[1])[:, :rows].transpose(1, 2, 0).reshape(-1, 64)
    pe = 8
    p = write_mvu_int8_files(conv0_weight_rows(packed["conv0_weight_bits"]), packed["conv0_threshold"],
                             packed["conv0_direction"], pe, None, rom_dir("mvu_int8_small_preset"))
    assert (p["K"], p["CH"], p["SIMD"]) == (45, 64, 45)
    cycles = _cycles(len(x), 64, 45, pe, 45)
    out = run("verilator", "mvu_int8", FILES, p, "mvu_int8_small_preset", bench_data(x, 8, y, 1, cycles=cycles))
    assert out["tests_passed"] == 3 and out["values"] == y.size == 800 * 64
    assert 0.05 < y.mean() < 0.95
    print(f"verilator PE={pe}: {out['cycles']} cycles for {len(x)} windows = {out['cycles'] / len(x):.3f} per window "
          f"(formula {cycles}); {3 * y.size} bits compared")


@pytest.mark.parametrize("sim, wb", [("icarus", 8), ("verilator", 8), ("icarus", 3)])
def test_mvu_int8_weight_codes(sim, wb):
    """WB-bit signed weight codes (a model trained with first_conv_weight_bits = WB): plain products, thresholds
    at and beyond the accumulator's range, the same stalls, reset and cycles as with +-1 weights."""
    k, ch, pe, simd = 12, 12, 4, 6
    top = 2 ** (wb - 1) - 1
    rng = np.random.default_rng(wb)
    w = rng.integers(-top, top + 1, (ch, k))
    w[0], w[1] = top, -top
    amax = k * 128 * top
    t = rng.integers(-300 * top, 300 * top, ch)
    t[[2, 3, 4, 5]] = [amax, -amax, amax + 1, -amax - 1]
    d = rng.choice([-1, 1], ch)
    d[[2, 3]] = [1, -1]
    x = np.concatenate([rng.integers(-128, 128, (40, k)), np.full((2, k), -128), np.full((2, k), 127),
                        rng.integers(-128, 128, (4, k))])
    y = threshold(x @ w.T, t, d, channel_axis=1)
    name = f"mvu_int8_codes{wb}_{sim}"
    p = write_mvu_int8_files(w, t, d, pe, simd, rom_dir(name), "t", wb=wb)
    assert p["WB"] == wb
    out = run(sim, "mvu_int8", FILES, p, name, bench_data(x, 8, y, 1, cycles=_cycles(len(x), ch, k, pe, simd)))
    assert out["tests_passed"] == 3 and out["values"] == y.size == 48 * 12
    assert y[40:44, 0:6].any() and not y[40:44, 0:6].all()
    with pytest.raises(ValueError, match="narrow range"):
        write_mvu_int8_files(w * 0 - top - 1, t, d, pe, simd, rom_dir(name + "_bad"), "t", wb=wb)
