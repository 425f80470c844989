"""cocotb bench of hw/rtl/binary_lstm.sv, driven by tests/test_rtl_binary_lstm.py through sim.runner.run_bench.

Data (bench_data()): `x` (B, T, D) input bits, `expected` (B, T, 2H) output bits of bcrnn.reference.lstm.run_bilstm
(computed by pytest, the one oracle), `stall` (probability of a pause cycle on each side in test_random_stalls).
Reported (bench_report): `compared_bits`, and from test_back_to_back `latency` (first input beat to last output
beat of the first sequence, both counted) and `intervals` (cycles between the last output beats of consecutive
sequences, the compute time per sequence in a back-to-back stream).

The RTL under test is a parameter: its sources and top come from pytest, its port names from BENCH_PORTS
(sim/stream_bench.py); the RTL that Vitis HLS generates from hw/hls/binary_lstm_top.cpp has VITIS_PORTS
(tests/test_rtl_binary_lstm.py runs it where vitis_hls is installed).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

from sim.runner import bench_data, bench_report
from sim.stream_bench import StreamBench

TIMEOUT_MS = 40  # simulated time, 10 ns clock: 4 M cycles


class TB(StreamBench):
    def __init__(self, dut):
        super().__init__(dut)
        self.data = bench_data()
        self.x = self.data["x"].astype(np.uint8)
        self.expected = self.data["expected"].astype(np.uint8)
        self.t = self.x.shape[1]

    async def send(self, seq: np.ndarray):
        """One sequence (T, D) as T beats, bit j of a beat = element j."""
        await self.source.send(AxiStreamFrame([_word(row) for row in seq]))

    async def receive(self, count: int) -> np.ndarray:
        """`count` output beats as (count, 2H) bits."""
        width = self.expected.shape[2]
        words = []
        while len(words) < count:
            frame = await self.sink.recv()
            words.extend(int(v) for v in frame.tdata)
        return np.array([[(w >> j) & 1 for j in range(width)] for w in words], dtype=np.uint8).reshape(-1, width)

    def check(self, got: np.ndarray, expected: np.ndarray, what: str) -> int:
        expected = expected.reshape(-1, expected.shape[-1])
        assert got.shape == expected.shape, f"{what}: {got.shape} beats vs {expected.shape}"
        bad = np.argwhere(got != expected)
        assert len(bad) == 0, (f"{what}: {len(bad)} bits differ; first (beat, bit): {bad[:8].tolist()} "
                               f"(T = {self.t}: sequence = beat // T)")
        return int(got.size)


def _word(bits) -> int:
    return int.from_bytes(np.packbits(np.asarray(bits, dtype=np.uint8), bitorder="little").tobytes(), "little")


async def _run_all(tb: TB) -> int:
    """Every sequence back to back; compare every output bit; the number of bits compared."""
    for seq in tb.x:
        await tb.send(seq)
    got = await tb.receive(tb.x.shape[0] * tb.t)
    await ClockCycles(tb.clk, 20)
    assert tb.output_idle(), "output beats beyond the expected ones"
    return tb.check(got, tb.expected, "stream")


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_back_to_back(dut):
    """All sequences back to back without stalls: every bit, the latency of the first sequence and the interval
    between sequences (compute-bound: the ping-pong buffers overlap input and output with the compute)."""
    tb = TB(dut)
    tb.stalls(0, 0, 0)
    await tb.reset()
    compared = await _run_all(tb)
    t, b = tb.t, tb.x.shape[0]
    assert len(tb.in_cycles) == len(tb.out_cycles) == b * t
    ends = [tb.out_cycles[(k + 1) * t - 1] for k in range(b)]
    latency = ends[0] - tb.in_cycles[0] + 1
    intervals = np.diff(ends).tolist()
    dut._log.info("binary_lstm: %d bits equal; latency %d cycles, intervals %s", compared, latency, intervals)
    bench_report(compared_bits_back_to_back=compared, latency=latency, intervals=intervals,
                 in_span=tb.in_cycles[t - 1] - tb.in_cycles[0] + 1)


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_random_stalls(dut):
    """Random valid pauses at the input and ready pauses at the output (probability `stall` per cycle)."""
    tb = TB(dut)
    tb.stalls(float(tb.data["stall"]), float(tb.data["stall"]), 7)
    await tb.reset()
    compared = await _run_all(tb)
    bench_report(compared_bits_stalls=compared)


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_reset_mid_stream(dut):
    """Resets while a sequence streams in, while it is computed (forward and backward half-way), and while its
    output streams out; after each, clean sequences must come out right (and nothing from before the reset)."""
    tb = TB(dut)
    tb.stalls(float(tb.data["stall"]), float(tb.data["stall"]), 11)
    await tb.reset()
    first, t = tb.x[0], tb.t
    compute = int(tb.data["compute_cycles"])
    # 1: half of the input sequence
    if t >= 2:
        await tb.source.send(AxiStreamFrame([_word(r) for r in first[: t // 2]]))
        await tb.source.wait()
        await tb.reset()
    # 2: a sequence and a half in, reset in the middle of the first one's compute
    await tb.send(first)
    if t >= 2:
        await tb.source.send(AxiStreamFrame([_word(r) for r in tb.x[-1][: t // 2]]))
    await ClockCycles(tb.clk, compute // 2)
    assert tb.sink.empty(), "output before the compute could have finished"
    await tb.reset()
    # 3: a whole sequence out but only part of its output taken
    await tb.send(first)
    part = max(1, t // 3)
    got = await tb.receive(part)
    compared = tb.check(got, tb.expected[0][:part], "before the third reset")
    await tb.reset()
    # clean: every sequence
    compared += await _run_all(tb)
    bench_report(compared_bits_reset=compared)
