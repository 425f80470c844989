"""cocotb bench of hw/rtl/frontend_chain.sv (conv_window -> mvu_int8 -> maxpool_bits -> xnor_mvu): a real Emo-DB
segment's int8 codes in, the reference's conv0 stream (pooled bits, monitored between maxpool_bits and xnor_mvu)
and dense stream out, bit for bit. Data (tests/test_rtl_frontend_chain.py): sim/bench_frontend.py's layout (x = pixels,
y = dense frames) plus `pool` (pooled pixels, CH bits each)."""

import logging

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamMonitor

from bcrnn.rtl.memfile import unpack_word
from sim.bench_frontend import Harness
from sim.runner import bench_data, bench_report

TIMEOUT_MS = 20


class ChainHarness(Harness):
    def __init__(self, dut, data):
        super().__init__(dut, data)
        self.pool = AxiStreamMonitor(AxiStreamBus.from_prefix(dut, "pool"), self.clk, self.rst_n,
                                     reset_active_level=False, byte_lanes=1)
        self.pool.log.setLevel(logging.WARNING)

    def pooled(self) -> list[int]:
        words = []
        while not self.pool.empty():
            words.extend(self.pool.recv_nowait().tdata)
        return words

    def check_pool(self, words: list[int], what: str) -> int:
        expected = np.asarray(self.data["pool"])
        assert len(words) == len(expected), f"{what}: {len(words)} pooled pixels, expected {len(expected)}"
        out = np.stack([unpack_word(w, expected.shape[1], 1) for w in words])
        bad = np.argwhere(out != expected)
        assert len(bad) == 0, f"{what}: {len(bad)} conv0 bits differ, first (pixel, channel): {bad[:5].tolist()}"
        return int(out.size)


async def _run(dut, what: str, p_in: float, p_out: float):
    data = bench_data()
    h = ChainHarness(dut, data)
    await h.reset()
    h.stalls(p_in, p_out, seed=11)
    words, cycles = await h.stream(h.beats(), len(data["y"]))
    dense = h.check(words, what)
    conv0 = h.check_pool(h.pooled(), what)
    return h, cycles, conv0, dense


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_cycles(dut):
    """No stalls: conv0 and dense streams equal the reference's; the cycles lie within the chain's formula."""
    data = bench_data()
    _, cycles, conv0, dense = await _run(dut, "no stalls", 0.0, 0.0)
    lo, hi = int(data["cycles_min"]), int(data["cycles_max"])
    bench_report(cycles=cycles, cycles_min=lo, cycles_max=hi, conv0_bits=conv0, dense_bits=dense)
    assert lo <= cycles <= hi, f"{cycles} cycles, the formula says [{lo}, {hi}]"


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_stalls(dut):
    """Random stalls at the input and the output (the internal streams back-pressure each other)."""
    data = bench_data()
    h, cycles, conv0, dense = await _run(dut, "stalls", float(data["pause_in"]), float(data["pause_out"]))
    await ClockCycles(dut.clk, 50)
    assert h.sink.empty() and h.pool.empty(), "extra beats after the stream"
    bench_report(stall_cycles=cycles, stall_conv0_bits=conv0, stall_dense_bits=dense)


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def test_reset_mid_stream(dut):
    """A reset while every block holds data, then a clean segment."""
    data = bench_data()
    h = ChainHarness(dut, data)
    await h.reset()
    beats = h.beats()
    await h.source.send(AxiStreamFrame(beats[: int(data["reset_at"])]))
    await ClockCycles(dut.clk, int(data["reset_at"]) * 3)
    assert not h.pool.empty() and not h.sink.empty(), "reset before the streams reached the dense layer"
    await h.reset(cycles=2)
    h.pooled()
    words, _ = await h.stream(beats, len(data["y"]))
    bench_report(reset_dense_bits=h.check(words, "after reset"),
                 reset_conv0_bits=h.check_pool(h.pooled(), "after reset"))
