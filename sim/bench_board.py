"""cocotb bench of the board top (`ulx3s_top`: PLL, power-on reset, bcrnn_uart, the generated bcrnn_top) driven
through its serial pins only, as a host would: each segment's int8 codes go in as 8N1 bytes on `ftdi_txd`, the
answers are read back from `ftdi_rxd` and compared with the integer reference (label and every logit); the LEDs
show the last label. A second test leaves a segment half sent, waits out the idle time and checks that the board
drops it and answers the next segment correctly.

Data (sim.runner.bench_data): `segments` (N, C*P) uint8, the bytes of each segment; `labels` (N,), `logits`
(N, classes); `clks_per_bit`, `idle_cycles`, `label_bits`, `logit_bits`, `classes` as 0-d arrays.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer, with_timeout

from bcrnn.rtl.board import decode_result, result_bytes
from sim.runner import bench_data, bench_report


PERIOD_NS = 10  # the bench's clock (the board's PLL model passes it through)


class Serial:
    """The host's end of the UART: bytes out on the board's rx pin, bytes in from its tx pin. Bits are timed with
    one timer each (not clock edges): a host's UART is not synchronous to the board's clock either."""

    def __init__(self, dut, clks_per_bit: int):
        self.dut, self.cpb = dut, clks_per_bit
        self.received: list[int] = []
        dut.ftdi_txd.value = 1
        cocotb.start_soon(self._receive())

    async def send(self, data: bytes) -> None:
        bit_time = Timer(self.cpb * PERIOD_NS, unit="ns")
        for byte in data:
            for level in (0, *((byte >> i) & 1 for i in range(8)), 1):
                self.dut.ftdi_txd.value = level
                await bit_time

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
async def segments_over_the_serial_line(dut):
    d, serial = await _start(dut)
    segments = d["segments"]
    nbytes = result_bytes(int(d["label_bits"]) + int(d["classes"]) * int(d["logit_bits"]))
    for seg in segments:
        await serial.send(seg.tobytes())
    answers = await serial.answers(len(segments), nbytes, 2_000_000)
    labels = _check(d, answers, range(len(segments)))
    assert int(dut.led.value) & 0b111 == labels[-1], "LEDs 0-2 show the last label"
    assert (int(dut.led.value) >> 6) & 1 == 0, "no receive overrun"
    bench_report(labels=labels, segments=len(segments), bytes_sent=int(segments.size),
                 values_compared=len(segments) * (1 + int(d["classes"])))


@cocotb.test(timeout_time=3000, timeout_unit="sec")
async def a_cut_segment_is_dropped(dut):
    d, serial = await _start(dut)
    segments = d["segments"]
    nbytes = result_bytes(int(d["label_bits"]) + int(d["classes"]) * int(d["logit_bits"]))
    await serial.send(segments[0][: len(segments[0]) // 2 + 1].tobytes())  # half a segment, cut mid-pixel
    await ClockCycles(dut.clk_25mhz, int(d["idle_cycles"]) + 100)
    await serial.send(segments[-1].tobytes())  # then a whole one (the last; the same one when there is one)
    answers = await with_timeout(serial.answers(1, nbytes, 2_000_000), 3000, "sec")
    _check(d, answers, [len(segments) - 1])
    await ClockCycles(dut.clk_25mhz, 20 * int(d["clks_per_bit"]))
    assert len(serial.received) == nbytes, "one answer only: the cut segment gave none"
