"""hw/rtl/output_argmax.sv (output layer: XNOR-popcount, logit = M_c dot + B_c, label = first argmax) equals
bcrnn.reference bit for bit on Icarus and Verilator, label and every logit: random inputs, inputs equal to a class's
weights and to their complement (dot = +-NI), all ones, all zeros; ties (a duplicated class, all logits equal:
the first maximum wins, as numpy.argmax), a zero multiplier, random stalls on both sides, a reset mid-stream, and
the FC output of a small-preset model on real Emo-DB segments (NI = 64, C = 7) one class per cycle and all seven
in parallel. Cycles: C / PE + 1 per vector back to back, C / PE + NST + 5 from the input beat to the output beat
(NST popcount-tree stages, bcrnn.rtl.head_files.output_argmax_cycles)."""

import numpy as np
import pytest

from bcrnn.reference.bits import pack_bits, xnor_popcount_dot
from bcrnn.rtl.head_files import label_width, output_argmax_cycles, unpack_output, write_output_files
from bcrnn.rtl.memfile import pack_word
from head_rtl import pack_rows, rom_dir, run_head_bench, small_preset_streams, stand_in_packed, vector_timing
from sim.runner import SIMULATORS

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def real(emodb_segments):
    return small_preset_streams(emodb_segments)


def output_reference(packed, bits):
    """The reference's output layer on bit vectors (V, NI): logits (V, C) and labels (V,)."""
    w = packed["out_weight_bits"]
    dot = xnor_popcount_dot(pack_bits(bits), pack_bits(w), w.shape[1])
    logits = packed["out_mult"] * dot + packed["out_offset"]
    return logits, np.argmax(logits, axis=1)


def _check(sim, packed, bits, pe, tag, stall=(0.3, 0.3), widths=None):
    params = write_output_files(packed, rom_dir("output_argmax", tag), pe, **(widths or {}))
    logits, labels = output_reference(packed, bits)
    c, lw, lbw = params["C"], params["LW"], label_width(params["C"])
    expected = [int(label) | pack_word(row, lw) << lbw for row, label in zip(logits, labels)]
    out = run_head_bench(sim, "output_argmax", params, [[w] for w in pack_rows(bits, 1)], expected, stall=stall,
                         reset_after=2)
    assert out["tests_passed"] == 3
    for key in ("stream_out", "timing_out", "reset_out"):
        got = [unpack_output(int(h, 16), c, lw) for h in out[key]]
        assert np.array_equal([g[0] for g in got], labels), key
        assert np.array_equal(np.stack([g[1] for g in got]), logits), key
    per_vector, latency = output_argmax_cycles(c, pe, params["NI"])
    intervals, latencies = vector_timing(out, 1)
    assert intervals == {per_vector} and latencies == {latency}, (intervals, latencies)
    print(f"{sim} C={c} PE={pe}: {per_vector} cycles per vector, {latency} from input to output")
    return logits, labels


# one build for the three small layers of the random test
SMALL_WIDTHS = {"mult_width": 16, "offset_width": 24, "logit_width": 26}


def _inputs(rng, w, count):
    ni = w.shape[1]
    return np.concatenate([rng.integers(0, 2, (count, ni)), w, 1 - w, np.ones((1, ni)), np.zeros((1, ni))]).astype(
        np.uint8)


@pytest.mark.parametrize("pe", [1, 5])
@pytest.mark.parametrize("sim", SIMULATORS)
def test_output_argmax_random_inputs_ties_stalls_and_reset(sim, pe):
    rng = np.random.default_rng(3)
    ni, c = 10, 5
    packed = stand_in_packed(rng, 4, ni, c, 3)
    # class 3 duplicates class 1 and both lead: every label must be 1 (the first maximum), never 3
    for key in ("out_weight_bits", "out_mult", "out_offset"):
        packed[key][3] = packed[key][1]
    packed["out_offset"][1] = packed["out_offset"][3] = 10**6
    tag = f"small_pe{pe}"
    logits, labels = _check(sim, packed, _inputs(rng, packed["out_weight_bits"], 12), pe, tag, widths=SMALL_WIDTHS)
    assert (labels == 1).all() and (logits[:, 1] == logits[:, 3]).all() and packed["out_mult"][0] == 0
    # all logits equal (zero multipliers, one offset): label 0; then a generic random layer
    flat = dict(packed, out_mult=np.zeros(c, np.int64), out_offset=np.full(c, -77))
    _, labels = _check(sim, flat, _inputs(rng, packed["out_weight_bits"], 3), pe, tag, widths=SMALL_WIDTHS)
    assert (labels == 0).all()
    packed = stand_in_packed(np.random.default_rng(4), 4, ni, c, 3)
    _, labels = _check(sim, packed, _inputs(rng, packed["out_weight_bits"], 20), pe, tag, widths=SMALL_WIDTHS)
    assert len(set(labels.tolist())) >= 3


@pytest.mark.parametrize("pe", [1, 7])
@pytest.mark.parametrize("sim", SIMULATORS)
def test_output_argmax_small_preset_fc_output(sim, real, pe):
    packed, streams = real
    bits = _inputs(np.random.default_rng(5), packed["out_weight_bits"], 0)
    bits = np.concatenate([streams["fc"], bits])
    logits, labels = _check(sim, packed, bits, pe, f"preset_pe{pe}", stall=(0.2, 0.5))
    assert np.array_equal(logits[: len(streams["fc"])], streams["logits"])
    print(f"{sim} PE={pe}: {logits.size} logits and {len(labels)} labels of {len(bits)} vectors equal "
          "(x3: stalls, back to back, after a reset)")
