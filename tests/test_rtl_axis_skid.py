"""hw/rtl/axis_skid.sv (the register slice between bcrnn_top's blocks) on Icarus and Verilator: every beat through
in order under random stalls on both sides (heavy output stalls fill the skid register), a reset mid-stream, and
back to back one beat per cycle with one cycle of latency."""

import numpy as np
import pytest

from head_rtl import run_head_bench, vector_timing
from sim.runner import SIMULATORS

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("stall", [(0.3, 0.3), (0.1, 0.7)])
def test_axis_skid_passes_every_beat_in_order(sim, stall):
    rng = np.random.default_rng(3)
    width = 37
    words = [int(w) for w in rng.integers(0, 1 << 36, 400)] + [(1 << width) - 1, 0]
    out = run_head_bench(sim, "axis_skid", {"W": width}, [[w] for w in words], words, stall=stall, reset_after=50)
    assert out["tests_passed"] == 3
    for key in ("stream_out", "timing_out", "reset_out"):
        assert [int(h, 16) for h in out[key]] == words, key
    intervals, latencies = vector_timing(out, 1)
    assert intervals == {1} and latencies == {1}, (intervals, latencies)
