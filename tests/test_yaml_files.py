"""RTL foldings and FINN build targets are picked by name or path through one loader (bcrnn.yaml_files): a missing
name lists the known ones, a misspelt key is refused rather than ignored."""

from __future__ import annotations

import pytest

from bcrnn.dataflow.flow import BuildTarget
from bcrnn.rtl.top import Folding


def test_by_name_and_by_path(tmp_path):
    assert Folding.load("zu3eg").conv_pe == 8
    (tmp_path / "mine.yaml").write_text("conv_pe: 4\nlstm_pe: 8\n")
    f = Folding.load(tmp_path / "mine.yaml")
    assert (f.conv_pe, f.lstm_pe, f.out_pe) == (4, 8, 1)  # unset keys keep their defaults
    t = BuildTarget.load("zu3eg-fast")
    assert t.name == "zu3eg-fast" and t.target_fps


def test_missing_name_lists_the_known_ones():
    with pytest.raises(FileNotFoundError, match="no RTL folding 'zu9eg'.*tiny.*zu3eg"):
        Folding.load("zu9eg")
    with pytest.raises(FileNotFoundError, match="no build target 'vu19p'.*zu3eg-fast"):
        BuildTarget.load("vu19p")


def test_misspelt_or_malformed_keys_are_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("conv_pe: 4\nlstm_simdd: 64\n")
    with pytest.raises(ValueError, match=r"unknown keys \['lstm_simdd'\]"):
        Folding.load(bad)
    bad.write_text("board: Ultra96\ntarget_fpss: 1000\n")
    with pytest.raises(ValueError, match=r"unknown keys \['target_fpss'\]"):
        BuildTarget.load(bad)
    bad.write_text("- conv_pe\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        Folding.load(bad)
    bad.write_text("label: a label: with a colon\n")  # unquoted: not YAML; said with the file, no traceback
    from bcrnn.recipes import load_recipe

    with pytest.raises(ValueError, match=f"{bad}: not valid YAML: mapping values are not allowed here"):
        load_recipe(bad)


@pytest.mark.parametrize("preset, folding", [("small", "zu3eg"), ("wide", "zu3eg-wide"), ("hw", "zu3eg-wide"),
                                             ("paper", "zu3eg"), ("tiny", "zu3eg")])
def test_default_rtl_folding_follows_the_architecture(preset, folding):
    """sim/top.py's default: the ZU3EG folding written for the model's architecture; one that divides its sizes."""
    import json

    from bcrnn.models import PRESETS
    from bcrnn.rtl.top import Folding, zu3eg_folding

    cfg = PRESETS[preset]
    assert zu3eg_folding({"meta": json.dumps({"model_config": cfg.to_dict()})}) == folding
    if preset in ("small", "wide"):
        f = Folding.load(folding)
        dense_in = cfg.conv[0][0] * cfg.n_mels // cfg.conv[0][4]
        assert cfg.dense % f.dense_pe == 0 and dense_in % f.dense_simd == 0
        assert 4 * cfg.lstm_hidden % f.lstm_pe == 0 and (cfg.dense + cfg.lstm_hidden) % f.lstm_simd == 0


def test_zu3eg_wide_folding_reaches_3000_segments_per_second():
    """hw/rtl/folding/zu3eg-wide.yaml by the blocks' cycle formulas (the whole-network simulation measured 48,072
    cycles per segment, hw/rtl/README.md): every block <= 62,000 cycles per segment, so >= 3,000 segments/s at an
    assumed 200 MHz (<= 66,666 cycles) with a margin."""
    from bcrnn.models import PRESETS
    from bcrnn.rtl.frontend_files import conv0_cycles, dense_cycles
    from bcrnn.rtl.lstm_files import lstm_cycles_rtl

    cfg, f = PRESETS["hw"], Folding.load("zu3eg-wide")
    ch, kt, kf, pt, pf = cfg.conv[0]
    frames, frame_bits = cfg.segment_frames // pt, ch * cfg.n_mels // pf
    cycles = {"conv": conv0_cycles(cfg.segment_frames, cfg.n_mels, kt, kf, ch, 3, f.conv_pe),
              "dense": dense_cycles(frames, cfg.dense, frame_bits, f.dense_pe, f.dense_simd, ch),
              "lstm": lstm_cycles_rtl(cfg.dense, cfg.lstm_hidden, frames, f.lstm_pe, f.lstm_simd)}
    assert cycles == {"conv": 48_000, "dense": 48_000, "lstm": 38_420}
    assert max(cycles.values()) <= 62_000 and 200e6 / max(cycles.values()) >= 3_000
