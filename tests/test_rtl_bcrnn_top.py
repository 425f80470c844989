"""The whole generated `bcrnn_top` on real Emo-DB segments, on both simulators: every layer boundary and the label
equal the integer reference; cycles per segment measured (sim/top.py does the same for a trained run)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import ROOT, trained_like

pytestmark = pytest.mark.sim
sys.path.insert(0, str(ROOT))


def _packed(emodb_segments, preset, overrides=None):
    from bcrnn.packing import pack_model

    fs, norm, x = emodb_segments
    return pack_model(trained_like(overrides or {}, x, preset=preset), norm.to_dict(), fs.classes,
                      fs.config.__dict__)


SHARED_BUILD = ROOT / "build" / "test_rtl_bcrnn_top"  # the Verilator build of the small top, shared by two tests


INT8_CONV = {"first_conv_weight_bits": 8}  # 8-bit first-conv weight codes (mvu_int8 with WB = 8)


@pytest.mark.slow
@pytest.mark.parametrize("sim, preset, folding, segments, overrides", [
    ("verilator", "small", "zu3eg", 2, None),       # the real architecture at the ZU3EG folding
    ("icarus", "tiny", "tiny", 1, None),            # Icarus: ~1 min per small-preset segment; one tiny one in CI
    ("verilator", "small", "zu3eg", 2, INT8_CONV),  # (int8 conv weights on Icarus: mvu_int8's own bench)
], ids=["verilator-small", "icarus-tiny", "verilator-small-int8conv"])
def test_bcrnn_top_equals_reference_on_emodb(emodb_segments, tmp_path, sim, preset, folding, segments, overrides):
    from bcrnn.rtl.top import Folding
    from sim.top import simulate

    _, _, x = emodb_segments
    packed = _packed(emodb_segments, preset, overrides)
    shared = sim == "verilator" and overrides is None
    out = simulate(packed, x[:segments], Folding.load(folding), sim, SHARED_BUILD if shared else tmp_path)
    meta = json.loads(str(packed["meta"]))
    ch, dense, h = meta["model_config"]["conv"][0][0], meta["model_config"]["dense"], meta["model_config"][
        "lstm_hidden"]
    per_segment = ch * 150 * 10 + 150 * dense + 150 * 2 * h + 2 * h + meta["model_config"]["fc"] + 7 + 1
    assert out["segments"] == segments and out["total_values"] == segments * per_segment
    assert out["labels"] == [int(np.argmax(v)) for v in _reference_logits(packed, x[:segments])]
    assert out["throughput_cycles"] > 0 and out["latency_cycles"] >= out["throughput_cycles"]
    if preset == "small":  # the ZU3EG folding's goal: >= 1,000 segments/s at 200 MHz from simulated cycles
        assert out["segments_per_second_200mhz"] >= 1000


def _reference_logits(packed, segments):
    from bcrnn.reference.model import ReferenceBCRNN, quantize_features

    ref = ReferenceBCRNN.from_arrays(packed)
    return [ref.forward(quantize_features(s)) for s in segments]


def test_a_different_model_is_caught(emodb_segments, tmp_path_factory):
    """The comparison can fail: the same Verilator build (ROMs of one model, reused from the test above) checked
    against the reference of another model (other LSTM multipliers) stops at the LSTM boundary."""
    from bcrnn.rtl.top import Folding
    from sim.runner import BenchFailed
    from sim.top import simulate

    _, _, x = emodb_segments
    packed = _packed(emodb_segments, "small")
    other = dict(packed)
    other["lstm_fwd_mult"] = -np.asarray(packed["lstm_fwd_mult"])
    with pytest.raises(BenchFailed, match="lstm at"):
        simulate(packed, x[:2], Folding.load("zu3eg"), "verilator", SHARED_BUILD, expected=other)


def test_head_weight_codes_are_refused_loudly(emodb_segments, tmp_path):
    """A model trained with a multi-bit head cannot be generated into the +-1 head blocks: a clear error naming the
    layers, not a KeyError or a wrong module (a multi-bit first conv is built: mvu_int8's WB, tested above)."""
    from bcrnn.packing import pack_model
    from bcrnn.rtl.top import Folding, generate, main
    from bcrnn.reference.packed_file import save_packed

    fs, norm, x = emodb_segments
    packed = pack_model(trained_like({"first_conv_weight_bits": 8, "head_weight_bits": 4}, x), norm.to_dict(),
                        fs.classes, fs.config.__dict__)
    with pytest.raises(ValueError, match="integer weight codes in fc, out"):
        generate(packed, Folding.load("tiny"), tmp_path / "rtl")
    save_packed(tmp_path / "m.npz", packed)
    assert main([str(tmp_path / "m.npz"), "--folding", "tiny", "--out", str(tmp_path / "rtl")]) == 2
    assert not (tmp_path / "rtl" / "bcrnn_top.sv").exists()
