"""cocotb bench of the generated `bcrnn_top` (bcrnn.rtl.top): real segments in, every layer boundary checked
against the integer reference, value by value, plus the label; cycles per segment measured.

Data (sim.runner.bench_data): `codes` (N, C, T, F) int8 feature codes, and the reference's streams per segment:
`conv0` (N, CH, T/2, F/4) bits, `dense` (N, T', D) bits, `lstm` (N, T', 2H) bits, `pool` (N, 2H) ints,
`fc` (N, 64) bits, `logits` (N, classes) ints; `sum_bits`, `logit_bits`, `label_bits`, `classes` as 0-d arrays.
Segments are streamed back to back; `gap` (0-d) idle cycles between segments (0: full throughput).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from sim.runner import bench_data, bench_report

BOUNDARIES = ("conv0", "dense", "lstm", "pool", "fc", "out")


def _bits(word: int, n: int) -> np.ndarray:
    return np.array([(word >> i) & 1 for i in range(n)], dtype=np.int64)


def _signed(word: int, count: int, width: int) -> np.ndarray:
    mask = (1 << width) - 1
    v = np.array([(word >> (i * width)) & mask for i in range(count)], dtype=np.int64)
    return np.where(v >= 1 << (width - 1), v - (1 << width), v)


async def _drive(dut, codes: np.ndarray, gap: int, started: list) -> None:
    n, c, t, f = codes.shape
    for s in range(n):
        pixels = codes[s].transpose(1, 2, 0).reshape(t * f, c)  # time-major, then frequency; channels per beat
        words = [sum((int(v) & 0xFF) << (8 * i) for i, v in enumerate(px)) for px in pixels]
        for k, word in enumerate(words):
            dut.s_tdata.value = word
            dut.s_tvalid.value = 1
            while True:
                await RisingEdge(dut.clk)
                if dut.s_tready.value:
                    break
            if k == 0:
                started.append(cycle[0])
        dut.s_tvalid.value = 0
        if gap:
            await ClockCycles(dut.clk, gap)


cycle = [0]


async def _monitor(dut, streams: dict, done_out: list) -> None:
    """Every cycle, record each boundary's beat when valid and ready are both high."""
    handles = {"conv0": (dut.pool_tdata, dut.pool_tvalid, dut.pool_tready),
               "dense": (dut.frames_tdata, dut.frames_tvalid, dut.frames_tready),
               "lstm": (dut.lstm_tdata, dut.lstm_tvalid, dut.lstm_tready),
               "pool": (dut.sums_tdata, dut.sums_tvalid, dut.sums_tready),
               "fc": (dut.fc_tdata, dut.fc_tvalid, dut.fc_tready),
               "out": (dut.m_tdata, dut.m_tvalid, dut.m_tready)}
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        cycle[0] += 1
        for name, (data, valid, ready) in handles.items():
            if valid.value and ready.value:
                streams[name].append(int(data.value))
                if name == "out":
                    done_out.append(cycle[0])


@cocotb.test(timeout_time=2000, timeout_unit="ms")
async def segments_match_reference(dut):
    d = bench_data()
    codes = d["codes"]
    n = len(codes)
    sum_bits, logit_bits, label_bits, classes = (int(d[k]) for k in ("sum_bits", "logit_bits", "label_bits",
                                                                       "classes"))
    gap = int(d["gap"])
    cycle[0] = 0
    cocotb.start_soon(Clock(dut.clk, 5, unit="ns").start())
    dut.rst_n.value = 0
    dut.s_tvalid.value = 0
    dut.m_tready.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst_n.value = 1
    streams = {b: [] for b in BOUNDARIES}
    started, done = [], []
    cocotb.start_soon(_monitor(dut, streams, done))
    cocotb.start_soon(_drive(dut, codes, gap, started))
    while len(done) < n:
        await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, 2)

    ch, t2, f2 = d["conv0"].shape[1:]
    frames, width = d["dense"].shape[1:]
    compared = {b: 0 for b in BOUNDARIES}
    for s in range(n):
        got = {"conv0": np.stack([_bits(w, ch) for w in streams["conv0"][s * t2 * f2:(s + 1) * t2 * f2]]),
               "dense": np.stack([_bits(w, width) for w in streams["dense"][s * frames:(s + 1) * frames]]),
               "lstm": np.stack([_bits(w, d["lstm"].shape[2]) for w in streams["lstm"][s * frames:(s + 1) * frames]]),
               "pool": _signed(streams["pool"][s], d["pool"].shape[1], sum_bits),
               "fc": _bits(streams["fc"][s], d["fc"].shape[1])}
        want = {"conv0": d["conv0"][s].transpose(1, 2, 0).reshape(t2 * f2, ch), "dense": d["dense"][s],
                "lstm": d["lstm"][s], "pool": d["pool"][s], "fc": d["fc"][s]}
        for name, value in got.items():
            bad = np.argwhere(value != want[name])
            assert not len(bad), f"segment {s}, {name} at {tuple(bad[0])}: RTL {value[tuple(bad[0])]}, reference " \
                                 f"{want[name][tuple(bad[0])]} ({len(bad)} values differ)"
            compared[name] += value.size
        word = streams["out"][s]
        label, logits = word & ((1 << label_bits) - 1), _signed(word >> label_bits, classes, logit_bits)
        assert np.array_equal(logits, d["logits"][s]), f"segment {s}: logits {logits} vs {d['logits'][s]}"
        assert label == int(np.argmax(d["logits"][s])), f"segment {s}: label {label}"
        compared["out"] += classes + 1
    intervals = np.diff(done) if n > 1 else []
    bench_report(segments=n, values_compared=compared, total_values=int(sum(compared.values())),
                 latency_cycles=int(done[0] - started[0]), interval_cycles=[int(v) for v in intervals],
                 output_cycles=[int(v) for v in done])
