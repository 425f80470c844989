"""cocotb bench of the board top (`ulx3s_top`: PLL, power-on reset, bcrnn_uart, the generated bcrnn_top) driven
through its serial pins only, as a host would: each segment's int8 codes go in as 8N1 bytes on `ftdi_txd` (from the
transmitter of the bench top, sim/models/board_bench.sv), the answers are read back from `ftdi_rxd` and compared
with the integer reference (label and every logit); the LEDs show the last label. A quarter of a segment goes first
and the line then stays idle: the board must drop it and answer every segment after it correctly.

The segments' bytes, one after the other, are in the transmitter's byte file (parameter HOST_BYTES). Data
(sim.runner.bench_data): `labels` (N,), `logits` (N, classes); `segments` (N), `segment_bytes` (C*P),
`clks_per_bit`, `idle_cycles`, `label_bits`, `logit_bits`, `classes` as 0-d arrays.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, with_timeout

from bcrnn.rtl.board import decode_result, result_bytes
from sim.runner import bench_data, bench_report


PERIOD_NS = 10  # the bench's clock (the board's PLL model passes it through)


class Serial:
    """The host's end of the UART: bytes out through the bench's transmitter (sim/models/board_bench.sv, on the
    board's rx pin), bytes in from the board's tx pin, sampled at each bit's middle."""

    def __init__(self, dut, clks_per_bit: int):
        self.dut, self.cpb = dut, clks_per_bit
        self.received: list[int] = []
        dut.host_start.value = 0
        cocotb.start_soon(self._receive())

    async def send(self, first: int, count: int) -> None:
        """Bytes [first, first + count) of the concatenated segments; returns when the last stop bit has gone."""
        self.dut.host_first.value, self.dut.host_count.value = first, count
        self.dut.host_start.value = 1
        await ClockCycles(self.dut.clk_25mhz, 2)
        self.dut.host_start.value = 0
        assert int(self.dut.host_busy.value) == 1, "the host transmitter did not start"
        await FallingEdge(self.dut.host_busy)

    async def _receive(self) -> None:
        while True:
            await FallingEdge(self.dut.ftdi_rxd)
            await ClockCycles(self.dut.clk_25mhz, self.cpb // 2)
            assert int(self.dut.ftdi_rxd.value) == 0, "start bit not low at its middle"
            byte = 0
            for i in range(8):
                await ClockCycles(self.dut.clk_25mhz, self.cpb)
                byte |= int(self.dut.ftdi_rxd.value) << i
            await ClockCycles(self.dut.clk_25mhz, self.cpb)
            assert int(self.dut.ftdi_rxd.value) == 1, "stop bit not high"
            self.received.append(byte)

    async def answers(self, count: int, nbytes: int, timeout_cycles: int) -> list[bytes]:
        waited = 0
        while len(self.received) < count * nbytes and waited < timeout_cycles:
            await ClockCycles(self.dut.clk_25mhz, 1000)
            waited += 1000
        assert len(self.received) == count * nbytes, \
            f"{len(self.received)} bytes received, {count * nbytes} expected after {waited} cycles"
        return [bytes(self.received[i * nbytes:(i + 1) * nbytes]) for i in range(count)]


async def _start(dut):
    d = bench_data()
    cocotb.start_soon(Clock(dut.clk_25mhz, PERIOD_NS, unit="ns").start())
    serial = Serial(dut, int(d["clks_per_bit"]))
    await ClockCycles(dut.clk_25mhz, 40)  # PLL lock and power-on reset
    return d, serial


def _check(d, answers, indices) -> list[int]:
    label_bits, logit_bits, classes = (int(d[k]) for k in ("label_bits", "logit_bits", "classes"))
    labels = []
    for answer, i in zip(answers, indices):
        label, logits = decode_result(answer, label_bits, classes, logit_bits)
        assert np.array_equal(logits, d["logits"][i]), f"segment {i}: logits {logits} != {d['logits'][i]}"
        assert label == int(d["labels"][i]), f"segment {i}: label {label} != {int(d['labels'][i])}"
        labels.append(label)
    return labels


@cocotb.test(timeout_time=3000, timeout_unit="sec")
async def a_cut_segment_is_dropped_then_segments_are_answered(dut):
    d, serial = await _start(dut)
    segments, size = int(d["segments"]), int(d["segment_bytes"])
    nbytes = result_bytes(int(d["label_bits"]) + int(d["classes"]) * int(d["logit_bits"]))
    await serial.send(0, size // 4 + 1)  # a quarter of a segment, cut mid-pixel: every layer holds state
    await ClockCycles(dut.clk_25mhz, int(d["idle_cycles"]) + 100)
    await serial.send(0, segments * size)  # then every segment, back to back
    answers = await with_timeout(serial.answers(segments, nbytes, 2_000_000), 3000, "sec")
    labels = _check(d, answers, range(segments))
    await ClockCycles(dut.clk_25mhz, 20 * int(d["clks_per_bit"]))
    assert len(serial.received) == segments * nbytes, "one answer a whole segment: the cut segment gave none"
    assert int(dut.led.value) & 0b111 == labels[-1], "LEDs 0-2 show the last label"
    assert (int(dut.led.value) >> 6) & 1 == 0, "no receive overrun"
    bench_report(labels=labels, segments=segments, bytes_sent=size // 4 + 1 + segments * size,
                 values_compared=segments * (1 + int(d["classes"])))
