"""cocotb bench of the front-end blocks (conv_window, mvu_int8, maxpool_bits, xnor_mvu; frontend_chain extends it
in sim/bench_frontend_chain.py).

Every front-end block maps a stream of input beats to a stream of output beats, so one set of tests serves them
all; the data (bench_data(), packed by tests/frontend_rtl.py) says what goes in and what must come out:

    x (N, n_in) ints, x_width      input beats as elements (packed element i at [i*x_width +: x_width])
    y (M, n_out) ints, y_width     expected output beats
    y_signed                       1: output elements are two's complement
    reset_at                       input beats sent before the mid-stream reset
    cycles_min, cycles_max         bounds of the no-stall run's cycles (the module's cycle formula)
    pause_in, pause_out            stall probabilities of the random-stall test

Cycles are counted from the clock cycle whose rising edge takes the first input beat to the one whose edge takes
the last output beat, both included.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

from bcrnn.rtl.memfile import pack_word, unpack_word
from sim.runner import bench_data, bench_report
from sim.stream_bench import StreamBench

TIMEOUT_MS = 20  # simulated time; 2,000,000 cycles of 10 ns


class Harness(StreamBench):
    def __init__(self, dut, data: dict):
        super().__init__(dut)
        self.data = data

    def beats(self, key: str = "x") -> list[int]:
        width = int(self.data[f"{key}_width"])
        return [pack_word(row, width) for row in np.asarray(self.data[key]).reshape(len(self.data[key]), -1)]

    def unpack(self, words: list[int]) -> np.ndarray:
        y = self.data["y"]
        n_out = int(np.prod(y.shape[1:]))
        out = np.stack([unpack_word(w, n_out, int(self.data["y_width"]), bool(self.data["y_signed"])) for w in words])
        return out.reshape((len(words),) + y.shape[1:])

    async def stream(self, beats: list[int], n_out: int) -> tuple[list[int], int]:
        """Send beats, collect n_out output beats; returns (words, cycles from the first input handshake to the
        last output handshake, both included)."""
        first_in, first_out = len(self.in_cycles), len(self.out_cycles)
        await self.source.send(AxiStreamFrame(beats))
        words = []
        while len(words) < n_out:
            words.extend((await self.sink.recv()).tdata)
        await ClockCycles(self.clk, 1)  # the monitor counts the last handshake at this edge
        assert len(self.out_cycles) - first_out == n_out, "output handshakes and received beats disagree"
        return words, self.out_cycles[-1] - self.in_cycles[first_in] + 1

    def check(self, words: list[int], what: str) -> int:
        expected = np.asarray(self.data["y"])
        out = self.unpack(words)
        assert out.shape == expected.shape, f"{what}: {out.shape} beats, expected {expected.shape}"
        bad = np.argwhere(out != expected)
        assert len(bad) == 0, f"{what}: {len(bad)} values differ, first (beat, element...): {bad[:5].tolist()}"
        return int(out.size)


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_stalls(dut):
    """Random valid/ready stalls on both sides; the output equals the reference's bit for bit."""
    data = bench_data()
    h = Harness(dut, data)
    await h.reset()
    h.stalls(float(data["pause_in"]), float(data["pause_out"]), seed=1)
    words, cycles = await h.stream(h.beats(), len(data["y"]))
    compared = h.check(words, "stalls")
    await ClockCycles(dut.clk, 20)
    assert h.output_idle(), "extra output beats after the stream"
    bench_report(stall_values=compared, stall_cycles=cycles)


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_reset_mid_stream(dut):
    """A reset in the middle of a stream (some beats in, some out), then a clean stream comes out right."""
    data = bench_data()
    h = Harness(dut, data)
    await h.reset()
    h.stalls(0.3, 0.3, seed=7)
    beats = h.beats()
    await h.source.send(AxiStreamFrame(beats[: int(data["reset_at"])]))
    await ClockCycles(dut.clk, int(data["reset_at"]) // 2 + 5)
    await h.reset(cycles=2)
    h.stalls(0.0, 0.0, seed=0)
    words, _ = await h.stream(beats, len(data["y"]))
    bench_report(reset_values=h.check(words, "after reset"))


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_cycles(dut):
    """No stalls: the measured cycles lie within the module's cycle formula."""
    data = bench_data()
    h = Harness(dut, data)
    await h.reset()
    h.stalls(0.0, 0.0, seed=0)
    words, cycles = await h.stream(h.beats(), len(data["y"]))
    compared = h.check(words, "no stalls")
    lo, hi = int(data["cycles_min"]), int(data["cycles_max"])
    bench_report(cycles=cycles, cycles_min=lo, cycles_max=hi, values=compared)
    assert lo <= cycles <= hi, f"{cycles} cycles, the formula says [{lo}, {hi}]"
