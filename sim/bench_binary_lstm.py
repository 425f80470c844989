"""cocotb bench of hw/rtl/binary_lstm.sv, driven by tests/test_rtl_binary_lstm.py through sim.runner.run_bench.

Data (bench_data()): `x` (B, T, D) input bits, `expected` (B, T, 2H) output bits of bcrnn.reference.lstm.run_bilstm
(computed by pytest, the one oracle), `stall` (probability of a pause cycle on each side in test_random_stalls).
Reported (bench_report): `compared_bits`, and from test_back_to_back `latency` (first input beat to last output
beat of the first sequence, both counted) and `intervals` (cycles between the last output beats of consecutive
sequences, the compute time per sequence in a back-to-back stream).

The RTL under test is a parameter: BENCH_PORTS (JSON) names its clock, active-low reset and the prefixes of its
input and output AXI4-Stream ports; the default is hw/rtl/binary_lstm.sv's `clk`, `rst_n`, `s_t*`, `m_t*`. The RTL
that Vitis HLS generates from hw/hls/binary_lstm_top.cpp has `ap_clk`, `ap_rst_n`, `in_r_T*`, `out_r_T*`
(VITIS_PORTS; tests/test_rtl_binary_lstm.py runs it where vitis_hls is installed).
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from sim.runner import bench_data, bench_report

TIMEOUT_MS = 40  # simulated time, 10 ns clock: 4 M cycles
RTL_PORTS = {"clk": "clk", "rst_n": "rst_n", "s": "s", "m": "m"}
VITIS_PORTS = {"clk": "ap_clk", "rst_n": "ap_rst_n", "s": "in_r", "m": "out_r"}


class TB:
    def __init__(self, dut):
        self.dut = dut
        self.data = bench_data()
        self.x = self.data["x"].astype(np.uint8)
        self.expected = self.data["expected"].astype(np.uint8)
        self.t = self.x.shape[1]
        ports = json.loads(os.environ.get("BENCH_PORTS", json.dumps(RTL_PORTS)))
        self.clk, self.rst_n = getattr(dut, ports["clk"]), getattr(dut, ports["rst_n"])
        cocotb.start_soon(Clock(self.clk, 10, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, ports["s"]), self.clk, self.rst_n,
                                      reset_active_level=False, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, ports["m"]), self.clk, self.rst_n,
                                  reset_active_level=False, byte_lanes=1)
        self.cycle = 0
        self.in_cycles: list[int] = []
        self.out_cycles: list[int] = []
        cocotb.start_soon(self._watch())

    async def _watch(self):
        """Cycle number of every beat that moves on either stream."""
        s, m = self.source.bus, self.sink.bus
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1
            if str(s.tvalid.value) == "1" and str(s.tready.value) == "1":
                self.in_cycles.append(self.cycle)
            if str(m.tvalid.value) == "1" and str(m.tready.value) == "1":
                self.out_cycles.append(self.cycle)

    async def reset(self, cycles: int = 3):
        self.rst_n.value = 0
        await ClockCycles(self.clk, cycles)
        self.source.clear()
        self.sink.clear()
        self.rst_n.value = 1
        await ClockCycles(self.clk, 2)

    def stalls(self, probability: float, seed: int):
        self.source.set_pause_generator(_pauses(probability, seed) if probability > 0 else None)
        self.sink.set_pause_generator(_pauses(probability, seed + 1) if probability > 0 else None)

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


def _pauses(probability: float, seed: int):
    rng = random.Random(seed)
    while True:
        yield rng.random() < probability


async def _run_all(tb: TB) -> int:
    """Every sequence back to back; compare every output bit; the number of bits compared."""
    for seq in tb.x:
        await tb.send(seq)
    got = await tb.receive(tb.x.shape[0] * tb.t)
    await ClockCycles(tb.clk, 20)
    assert tb.sink.empty() and str(tb.sink.bus.tvalid.value) == "0", "output beats beyond the expected ones"
    return tb.check(got, tb.expected, "stream")


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_back_to_back(dut):
    """All sequences back to back without stalls: every bit, the latency of the first sequence and the interval
    between sequences (compute-bound: the ping-pong buffers overlap input and output with the compute)."""
    tb = TB(dut)
    tb.stalls(0, 0)
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
    tb.stalls(float(tb.data["stall"]), 7)
    await tb.reset()
    compared = await _run_all(tb)
    bench_report(compared_bits_stalls=compared)


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_reset_mid_stream(dut):
    """Resets while a sequence streams in, while it is computed (forward and backward half-way), and while its
    output streams out; after each, clean sequences must come out right (and nothing from before the reset)."""
    tb = TB(dut)
    tb.stalls(float(tb.data["stall"]), 11)
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
