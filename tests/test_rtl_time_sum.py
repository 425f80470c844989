"""hw/rtl/time_sum.sv (the pool over time) equals bcrnn.reference bit for bit on Icarus and Verilator: random
sequences, all-ones and all-zeros (the sums saturate at +-T), random stalls on both sides, a reset mid-stream, and
the LSTM output of a small-preset model on real Emo-DB segments (N = 128, T = 150). Cycles: T per sequence back
to back, the sums 2 cycles after the last beat."""

import numpy as np
import pytest

from bcrnn.rtl.head_files import sum_width, time_sum_cycles, time_sum_params
from head_rtl import pack_rows, run_head_bench, small_preset_streams, vector_timing
from sim.runner import SIMULATORS

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def real(emodb_segments):
    return small_preset_streams(emodb_segments)


def _check(sim, bits, params, stall=(0.3, 0.3), seed=0):
    """bits (S, T, N): run the bench, compare every sum, check the cycle formula; returns the sums compared."""
    s, t, n = bits.shape
    sw = params.get("SW", sum_width(t))  # the module's default when not given
    sums = (2 * bits.astype(np.int64) - 1).sum(axis=1)  # the reference's pool
    frames = [pack_rows(seq, 1) for seq in bits]
    out = run_head_bench(sim, "time_sum", params, frames, pack_rows(sums, sw), stall=stall, reset_after=t + t // 2,
                         seed=seed)
    assert out["tests_passed"] == 3
    for key in ("stream_out", "timing_out", "reset_out"):
        got = np.array([[int(h, 16) >> (j * sw) & ((1 << sw) - 1) for j in range(n)] for h in out[key]])
        got = np.where(got >= 1 << (sw - 1), got - (1 << sw), got)
        assert np.array_equal(got, sums), key
    intervals, latencies = vector_timing(out, t)
    per_sequence, latency = time_sum_cycles(t)
    assert intervals == {per_sequence} and latencies == {latency}, (intervals, latencies)
    print(f"{sim} T={t}: {per_sequence} cycles per sequence, output {latency} cycles after the last beat")
    return sums


@pytest.mark.parametrize("sim", SIMULATORS)
def test_time_sum_random_sequences_stalls_and_reset(sim):
    rng = np.random.default_rng(1)
    t, n = 7, 12
    density = rng.uniform(0, 1, (14, 1, 1))  # sequences from nearly all zeros to nearly all ones
    bits = (rng.uniform(0, 1, (14, t, n)) < density).astype(np.uint8)
    bits = np.concatenate([bits, np.ones((1, t, n), np.uint8), np.zeros((1, t, n), np.uint8)])
    params = {"N": n, "T": t}  # SW from the module's default
    sums = _check(sim, bits, params)
    assert sums.max() == t and sums.min() == -t


@pytest.mark.parametrize("sim", SIMULATORS)
def test_time_sum_small_preset_lstm_output(sim, real):
    packed, streams = real
    params = time_sum_params(packed)
    assert params == {"N": 128, "T": 150, "SW": 9}
    t, n = 150, 128
    bits = np.concatenate([streams["lstm"], np.ones((1, t, n), np.uint8), np.zeros((1, t, n), np.uint8)])
    sums = _check(sim, bits, params, stall=(0.2, 0.5))
    assert np.array_equal(sums[:-2], streams["pool"])
    print(f"{sim}: {sums.size} sums of {len(bits)} sequences equal (x3: stalls, back to back, after a reset)")
