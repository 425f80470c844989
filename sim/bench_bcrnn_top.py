"""cocotb bench of the generated `bcrnn_top` (bcrnn.rtl.top) through its simulation harness
(`bcrnn_top_harness.sv`: streams the pixels of the segments back to back and logs every beat at every layer
boundary, so Python is not woken every cycle): every boundary is checked value by value against the integer
reference, and the label; cycles per segment are measured.

Data (sim.runner.bench_data): the reference's streams per segment: `conv0` (N, CH, T/2, F/4) bits, `dense`
(N, T', D) bits, `lstm` (N, T', 2H) bits, `pool` (N, 2H) ints, `fc` (N, 64) bits, `logits` (N, classes) ints;
`sum_bits`, `logit_bits`, `label_bits`, `classes`, `log_dir` (where the harness writes) as 0-d arrays.
"""

from __future__ import annotations

from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from sim.runner import bench_data, bench_report


def _log(path: Path) -> tuple[list[int], list[int]]:
    words, cycles = [], []
    for line in path.read_text().split("\n"):
        if line.strip():
            w, c = line.split()
            words.append(int(w, 16))
            cycles.append(int(c))
    return words, cycles


def _bits(words, n: int) -> np.ndarray:
    return np.array([[(w >> i) & 1 for i in range(n)] for w in words], dtype=np.int64)


def _signed(word: int, count: int, width: int) -> np.ndarray:
    mask = (1 << width) - 1
    v = np.array([(word >> (i * width)) & mask for i in range(count)], dtype=np.int64)
    return np.where(v >= 1 << (width - 1), v - (1 << width), v)


@cocotb.test(timeout_time=3000, timeout_unit="ms")
async def segments_match_reference(dut):
    d = bench_data()
    n = len(d["logits"])
    sum_bits, logit_bits, label_bits, classes = (int(d[k]) for k in ("sum_bits", "logit_bits", "label_bits",
                                                                       "classes"))
    logs = Path(str(d["log_dir"]))
    cocotb.start_soon(Clock(dut.clk, 5, unit="ns").start())
    dut.rst_n.value = 0
    dut.start.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst_n.value = 1
    await ClockCycles(dut.clk, 2)
    dut.start.value = 1
    while int(dut.done_count.value) < n:
        await ClockCycles(dut.clk, 2000)
    await ClockCycles(dut.clk, 2)

    ch, t2, f2 = d["conv0"].shape[1:]
    frames, width = d["dense"].shape[1:]
    h2 = d["lstm"].shape[2]
    streams = {name: _log(logs / f"{name}.hex") for name in ("conv0", "dense", "lstm", "pool", "fc", "out")}
    expected_beats = {"conv0": n * t2 * f2, "dense": n * frames, "lstm": n * frames, "pool": n, "fc": n, "out": n}
    for name, count in expected_beats.items():
        assert len(streams[name][0]) == count, f"{name}: {len(streams[name][0])} beats, expected {count}"
    got = {"conv0": _bits(streams["conv0"][0], ch).reshape(n, t2 * f2, ch),
           "dense": _bits(streams["dense"][0], width).reshape(n, frames, width),
           "lstm": _bits(streams["lstm"][0], h2).reshape(n, frames, h2),
           "pool": np.stack([_signed(w, h2, sum_bits) for w in streams["pool"][0]]),
           "fc": _bits(streams["fc"][0], d["fc"].shape[1])}
    want = {"conv0": d["conv0"].transpose(0, 2, 3, 1).reshape(n, t2 * f2, ch), "dense": d["dense"],
            "lstm": d["lstm"], "pool": d["pool"], "fc": d["fc"]}
    compared = {}
    for name, value in got.items():
        bad = np.argwhere(value != want[name])
        assert not len(bad), f"{name} at (segment, ...) {tuple(bad[0])}: RTL {value[tuple(bad[0])]}, reference " \
                             f"{want[name][tuple(bad[0])]} ({len(bad)} values differ)"
        compared[name] = int(value.size)
    labels, logits = [], []
    for word in streams["out"][0]:
        labels.append(word & ((1 << label_bits) - 1))
        logits.append(_signed(word >> label_bits, classes, logit_bits))
    assert np.array_equal(np.stack(logits), d["logits"]), "logits differ"
    assert labels == [int(np.argmax(v)) for v in d["logits"]], f"labels {labels}"
    compared["logits"], compared["label"] = n * classes, n
    starts = [int(v) for v in (logs / "starts.hex").read_text().split()]
    done = streams["out"][1]
    bench_report(segments=n, values_compared=compared, total_values=int(sum(compared.values())),
                 latency_cycles=int(done[0] - starts[0]), interval_cycles=[int(v) for v in np.diff(done)],
                 output_cycles=[int(v) for v in done], labels=labels)
