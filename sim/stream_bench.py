"""What every cocotb bench of a streaming block needs: its clock, a synchronous active-low reset, an AXI4-Stream
source and sink (cocotbext-axi, byte_lanes=1: one list element = one whole tdata word, any width), random pauses on
both sides, and the cycle of every handshake on both streams.

The block's port names are a parameter: BENCH_PORTS (JSON) names its clock, reset and the prefixes of its input and
output streams. The default is our RTL's (`clk`, `rst_n`, `s_t*`, `m_t*`); the RTL that Vitis HLS generates from
hw/hls/binary_lstm_top.cpp has VITIS_PORTS.
"""

from __future__ import annotations

import json
import logging
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

CLOCK_NS = 10
RTL_PORTS = {"clk": "clk", "rst_n": "rst_n", "s": "s", "m": "m"}
VITIS_PORTS = {"clk": "ap_clk", "rst_n": "ap_rst_n", "s": "in_r", "m": "out_r"}


def _high(signal) -> bool:
    return str(signal.value) == "1"


def _pauses(probability: float, seed: int):
    rng = random.Random(seed)
    while True:
        yield rng.random() < probability


class StreamBench:
    def __init__(self, dut):
        self.dut = dut
        ports = json.loads(os.environ.get("BENCH_PORTS", json.dumps(RTL_PORTS)))
        self.clk, self.rst_n = getattr(dut, ports["clk"]), getattr(dut, ports["rst_n"])
        self.rst_n.value = 0
        cocotb.start_soon(Clock(self.clk, CLOCK_NS, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, ports["s"]), self.clk, self.rst_n,
                                      reset_active_level=False, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, ports["m"]), self.clk, self.rst_n,
                                  reset_active_level=False, byte_lanes=1)
        for endpoint in (self.source, self.sink):
            endpoint.log.setLevel(logging.WARNING)  # per-frame logging is slow on long streams
        self.cycle = 0  # rising edges since the bench started
        self.in_cycles: list[int] = []
        self.out_cycles: list[int] = []
        cocotb.start_soon(self._monitor())

    async def _monitor(self):
        """Handshakes as the block sees them: the values sampled at each rising edge, outside reset."""
        s, m = self.source.bus, self.sink.bus
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1
            if not _high(self.rst_n):
                continue
            if _high(s.tvalid) and _high(s.tready):
                self.in_cycles.append(self.cycle)
            if _high(m.tvalid) and _high(m.tready):
                self.out_cycles.append(self.cycle)

    async def reset(self, cycles: int = 4):
        """Reset the block; whatever the source still had to send and the sink had received is dropped."""
        self.rst_n.value = 0
        await RisingEdge(self.clk)
        self.source.clear()
        self.sink.clear()
        await ClockCycles(self.clk, cycles)
        self.rst_n.value = 1
        await RisingEdge(self.clk)

    def stalls(self, p_in: float, p_out: float, seed: int):
        """Pause the input (tvalid low) and the output (tready low) with these probabilities per cycle."""
        for endpoint, p, s in ((self.source, p_in, seed), (self.sink, p_out, seed + 1)):
            if p > 0:
                endpoint.set_pause_generator(_pauses(p, s))
            else:
                endpoint.clear_pause_generator()  # leaves the last pause value: clear it too
                endpoint.pause = False

    def output_idle(self) -> bool:
        return self.sink.empty() and not _high(self.sink.bus.tvalid)
