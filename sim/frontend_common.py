"""Shared cocotb tests of the front-end benches (conv_window, mvu_int8, maxpool_bits, xnor_mvu, frontend_chain).

Every front-end block maps a stream of input beats to a stream of output beats, so one set of tests serves them
all; the data (bench_data()) says what goes in and what must come out:

    x (N, n_in) ints, x_width      input beats as elements (packed element i at [i*x_width +: x_width])
    y (M, n_out) ints, y_width     expected output beats
    y_signed                       1: output elements are two's complement
    reset_at                       input beats sent before the mid-stream reset
    cycles_min, cycles_max         bounds of the no-stall run's cycles (the module's cycle formula)
    pause_in, pause_out            stall probabilities of the random-stall test

Cycles are counted from the clock cycle whose rising edge takes the first input beat to the one whose edge takes
the last output beat, both included (10 ns clock).
"""

from __future__ import annotations

import logging
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from bcrnn.rtl.memfile import pack_word, unpack_word
from sim.runner import bench_data, bench_report

PERIOD_NS = 10


def _pauses(p: float, seed: int):
    rng = random.Random(seed)
    while True:
        yield rng.random() < p


class Harness:
    def __init__(self, dut, data: dict):
        self.dut, self.data = dut, data
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s"), dut.clk, dut.rst_n,
                                      reset_active_level=False, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m"), dut.clk, dut.rst_n, reset_active_level=False,
                                  byte_lanes=1)
        for endpoint in (self.source, self.sink):
            endpoint.log.setLevel(logging.WARNING)  # per-frame logging is slow on long streams

    async def start(self):
        cocotb.start_soon(Clock(self.dut.clk, PERIOD_NS, unit="ns").start())
        await self.reset()

    async def reset(self, cycles: int = 3):
        self.dut.rst_n.value = 0
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst_n.value = 1
        await RisingEdge(self.dut.clk)
        self.source.clear()
        self.sink.clear()

    def beats(self, key: str = "x") -> list[int]:
        width = int(self.data[f"{key}_width"])
        return [pack_word(row, width) for row in np.asarray(self.data[key]).reshape(len(self.data[key]), -1)]

    def unpack(self, words: list[int]) -> np.ndarray:
        y = self.data["y"]
        n_out = int(np.prod(y.shape[1:]))
        out = np.stack([unpack_word(w, n_out, int(self.data["y_width"]), bool(self.data["y_signed"])) for w in words])
        return out.reshape((len(words),) + y.shape[1:])

    def pause(self, p_in: float, p_out: float, seed: int):
        for endpoint, p, s in ((self.source, p_in, seed), (self.sink, p_out, seed + 1)):
            if p > 0:
                endpoint.set_pause_generator(_pauses(p, s))
            else:
                endpoint.clear_pause_generator()  # leaves the last pause value: clear it too
                endpoint.pause = False

    async def stream(self, beats: list[int], n_out: int) -> tuple[list[int], int, list]:
        """Send beats, collect n_out output beats; returns (words, cycles, output frames)."""
        start = cocotb.start_soon(self._first_input_time())
        await self.source.send(AxiStreamFrame(beats))
        frames, words = [], []
        while len(words) < n_out:
            f = await self.sink.recv()
            frames.append(f)
            words.extend(f.tdata)
        t0 = await start
        cycles = round((frames[-1].sim_time_end - t0) / (PERIOD_NS * 1000)) + 1  # sim steps are ps
        return words, cycles, frames

    async def _first_input_time(self) -> int:
        """Sim time of the rising edge that takes the first input beat; the count includes that cycle."""
        while True:
            await RisingEdge(self.dut.clk)
            if self.dut.s_tvalid.value == 1 and self.dut.s_tready.value == 1:
                return get_sim_time()

    def check(self, words: list[int], what: str) -> int:
        expected = np.asarray(self.data["y"])
        out = self.unpack(words)
        assert out.shape == expected.shape, f"{what}: {out.shape} beats, expected {expected.shape}"
        bad = np.argwhere(out != expected)
        assert len(bad) == 0, f"{what}: {len(bad)} values differ, first (beat, element...): {bad[:5].tolist()}"
        return int(out.size)


async def stall_test(dut):
    """Random valid/ready stalls on both sides; the output equals the reference's bit for bit."""
    data = bench_data()
    h = Harness(dut, data)
    await h.start()
    h.pause(float(data["pause_in"]), float(data["pause_out"]), seed=1)
    words, cycles, _ = await h.stream(h.beats(), len(data["y"]))
    compared = h.check(words, "stalls")
    await ClockCycles(dut.clk, 20)
    assert h.sink.empty(), "extra output beats after the stream"
    bench_report(stall_values=compared, stall_cycles=cycles)


async def reset_test(dut):
    """A reset in the middle of a stream (some beats in, some out), then a clean stream comes out right."""
    data = bench_data()
    h = Harness(dut, data)
    await h.start()
    h.pause(0.3, 0.3, seed=7)
    beats = h.beats()
    await h.source.send(AxiStreamFrame(beats[: int(data["reset_at"])]))
    await ClockCycles(dut.clk, int(data["reset_at"]) // 2 + 5)
    await h.reset(cycles=2)
    h.pause(0.0, 0.0, seed=0)
    words, _, _ = await h.stream(beats, len(data["y"]))
    compared = h.check(words, "after reset")
    bench_report(reset_values=compared)


async def throughput_test(dut):
    """No stalls: the measured cycles lie within the module's cycle formula."""
    data = bench_data()
    h = Harness(dut, data)
    await h.start()
    h.pause(0.0, 0.0, seed=0)
    words, cycles, _ = await h.stream(h.beats(), len(data["y"]))
    compared = h.check(words, "no stalls")
    lo, hi = int(data["cycles_min"]), int(data["cycles_max"])
    bench_report(cycles=cycles, cycles_min=lo, cycles_max=hi, values=compared)
    assert lo <= cycles <= hi, f"{cycles} cycles, the formula says [{lo}, {hi}]"
