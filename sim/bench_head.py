"""cocotb bench of the head blocks (hw/rtl/time_sum.sv, int_mvu.sv, output_argmax.sv), blocks that map input frames
(one or more beats) to output beats: random stalls on both sides, back-to-back cycle counts, a reset mid-stream.
pytest (tests/test_rtl_{time_sum,int_mvu,output_argmax}.py) packs the inputs and the expected output beats from
bcrnn.reference and checks the reported cycles against each block's documented formula.

Pytest packs everything as hex strings (npz, no pickling), so this harness knows nothing about the block:
    frames   (V, B) str   V input frames of B beats each, one hex word per beat
    expected (V',) str    the output beats that must come out, in order (any count)
    stall    (2,) float   probabilities of a pause cycle on the input (tvalid low) and the output (tready low)
    reset_after () int    input beats to let through before the reset of `reset_mid_stream` (optional)
    seed     () int
Each check reports what it measured to pytest (`bench_report`): the received words (hex) and the cycles (rising
edges counted from the start) of every input and output handshake.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from sim.runner import bench_data, bench_report
from sim.stream_bench import StreamBench


class Harness(StreamBench):
    def __init__(self, dut):
        super().__init__(dut)
        self.data = bench_data()
        self.frames = [[int(h, 16) for h in row] for row in self.data["frames"]]
        self.expected = [int(h, 16) for h in self.data["expected"]]
        self.seed = int(self.data.get("seed", 0))

    async def stream(self, frames, n_out: int) -> list[int]:
        """Send the frames, receive n_out output beats, then make sure nothing else comes out."""
        for f in frames:
            await self.source.send(f)
        out = []
        for _ in range(n_out):
            frame = await self.sink.recv()
            out.extend(int(w) for w in frame.tdata)
        await ClockCycles(self.clk, 20)
        assert self.output_idle(), "more output beats than expected"
        return out

    def compare(self, got: list[int], what: str):
        assert len(got) == len(self.expected), f"{what}: {len(got)} beats out, {len(self.expected)} expected"
        bad = [i for i, (g, e) in enumerate(zip(got, self.expected)) if g != e]
        assert not bad, f"{what}: {len(bad)} of {len(got)} output beats differ, first at index {bad[0]}"


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def check_stream(dut):
    """Every frame through with random stalls on both sides, every output beat compared."""
    h = Harness(dut)
    await h.reset()
    p_in, p_out = (float(p) for p in h.data["stall"])
    h.stalls(p_in, p_out, h.seed)
    got = await h.stream(h.frames, len(h.expected))
    bench_report(stream_out=[f"{w:x}" for w in got], stream_cycles=h.cycle)
    h.compare(got, "stream with stalls")


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def measure_cycles(dut):
    """Every frame back to back, no stalls: the cycle of every input and output handshake."""
    h = Harness(dut)
    await h.reset()
    h.stalls(0.0, 0.0, h.seed)
    start = len(h.in_cycles)
    got = await h.stream(h.frames, len(h.expected))
    bench_report(in_cycles=h.in_cycles[start:], out_cycles=h.out_cycles, timing_out=[f"{w:x}" for w in got])
    h.compare(got, "back to back")


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def reset_mid_stream(dut):
    """A reset after `reset_after` input beats (with stalls), then the whole clean stream must come out right."""
    h = Harness(dut)
    await h.reset()
    p_in, p_out = (float(p) for p in h.data["stall"])
    h.stalls(p_in, p_out, h.seed)
    n_before = int(h.data["reset_after"])
    for f in h.frames:
        h.source.send_nowait(f)
    while len(h.in_cycles) < n_before:
        await RisingEdge(h.clk)
    await h.reset(3)
    beats_before = len(h.in_cycles)
    got = await h.stream(h.frames, len(h.expected))
    bench_report(reset_in_beats_before=n_before, reset_out=[f"{w:x}" for w in got],
                 reset_in_beats_after=len(h.in_cycles) - beats_before)
    h.compare(got, "after a reset mid-stream")
