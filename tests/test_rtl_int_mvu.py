"""hw/rtl/int_mvu.sv (the FC layer: integers x +-1, thresholds) equals bcrnn.reference bit for bit on Icarus and
Verilator: random inputs over the whole input width (including -2^(IW-1)) at three foldings, thresholds of both
directions and clipped ones (constant bits), extreme inputs, random stalls on both sides, a reset mid-stream, and
the pool output of a small-preset model on real Emo-DB segments (N = 128, MH = 64, PE = 4, SIMD = 16). Cycles:
NF * SF + 1 per vector back to back, NF * SF + LV + 4 from the input beat to the output beat (LV adder-tree
levels, bcrnn.rtl.head_files.int_mvu_cycles)."""

import numpy as np
import pytest

from bcrnn.reference.model import threshold
from bcrnn.rtl.head_files import int_mvu_cycles, write_fc_files
from head_rtl import pack_rows, rom_dir, run_head_bench, small_preset_streams, stand_in_packed, vector_timing
from sim.runner import SIMULATORS

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def real(emodb_segments):
    return small_preset_streams(emodb_segments)


def fc_reference(packed, x):
    """The reference's FC step on integer vectors x (V, N)."""
    acc = np.asarray(x, np.int64) @ (2 * packed["fc_weight_bits"].astype(np.int64) - 1).T
    return threshold(acc, packed["fc_threshold"], packed["fc_direction"], channel_axis=1)


def _check(sim, packed, x, pe, simd, tag, stall=(0.3, 0.3)):
    params = write_fc_files(packed, pe, simd, rom_dir("int_mvu", tag))
    expected = fc_reference(packed, x)
    out = run_head_bench(sim, "int_mvu", params, [[w] for w in pack_rows(x, params["IW"])], pack_rows(expected, 1),
                         stall=stall, reset_after=2)
    assert out["tests_passed"] == 3
    for key in ("stream_out", "timing_out", "reset_out"):
        got = np.array([[int(h, 16) >> j & 1 for j in range(params["MH"])] for h in out[key]], np.uint8)
        assert np.array_equal(got, expected), key
    per_vector, latency = int_mvu_cycles(params["N"], params["MH"], pe, simd)
    intervals, latencies = vector_timing(out, 1)
    assert intervals == {per_vector} and latencies == {latency}, (intervals, latencies)
    print(f"{sim} PE={pe} SIMD={simd}: {per_vector} cycles per vector, {latency} from input to output")
    return expected


# N = 12, MH = 6: lanes folded over rows and columns, one row and one input per cycle, everything in one cycle
@pytest.mark.parametrize("pe,simd", [(2, 3), (1, 1), (6, 12)])
@pytest.mark.parametrize("sim", SIMULATORS)
def test_int_mvu_random_inputs_foldings_stalls_and_reset(sim, pe, simd):
    rng = np.random.default_rng(2)
    n, mh, steps = 12, 6, 7
    packed = stand_in_packed(rng, n, mh, 2, steps)
    iw = 4  # time_sum's width for T = 7: [-8, 7]
    x = rng.integers(-(1 << (iw - 1)), 1 << (iw - 1), (12, n))
    extremes = np.array([[steps] * n, [-steps] * n, [-(1 << (iw - 1))] * n, [(1 << (iw - 1)) - 1] * n])
    x = np.concatenate([x, extremes])
    acc = x @ (2 * packed["fc_weight_bits"].astype(np.int64) - 1).T
    packed["fc_threshold"][2:] = acc[np.arange(2, mh), np.arange(2, mh)]  # acc == T happens, in both directions
    expected = _check(sim, packed, x, pe, simd, f"random_pe{pe}_simd{simd}")
    assert 0.2 < expected.mean() < 0.8


@pytest.mark.parametrize("sim", SIMULATORS)
def test_int_mvu_small_preset_pool_output(sim, real):
    packed, streams = real
    n, steps = 128, 150
    alternating = np.where(np.arange(n) % 2, steps, -steps)
    x = np.concatenate([streams["pool"], [[steps] * n, [-steps] * n, alternating]])
    expected = _check(sim, packed, x, 4, 16, "small_pe4_simd16", stall=(0.2, 0.5))
    assert np.array_equal(expected[: len(streams["fc"])], streams["fc"])
    print(f"{sim}: {expected.size} FC bits of {len(x)} vectors equal (x3: stalls, back to back, after a reset)")
