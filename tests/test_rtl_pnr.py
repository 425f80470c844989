"""bcrnn.rtl.pnr, the open place-and-route flow on ECP5: nextpnr's report read right (Fmax per clock, the critical
path's logic and routing delay and its source lines, the placed resources), the Yosys script declares the ECP5
primitives a PLL needs, and real runs: a small block out of context that must miss an impossible clock (exit 1),
and the tiny-preset board top (PLL, UART, bcrnn_top) placed, routed and written as a bitstream."""

from __future__ import annotations

import json

import pytest

from bcrnn.rtl import pnr, synth

REPORT = {
    "fmax": {"$glbnet$clk": {"achieved": 123.456, "constraint": 100.0}},
    "utilization": {"TRELLIS_COMB": {"used": 1200, "available": 83640}, "TRELLIS_FF": {"used": 900},
                    "DP16KD": {"used": 3}, "MULT18X18D": {"used": 2}, "TRELLIS_IO": {"used": 11},
                    "TRELLIS_RAMW": {"used": 4}, "EHXPLLL": {"used": 1}},
    "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
        {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "u_fc.acc_reg"}, "to": {"cell": "u_fc.acc_reg"}},
        {"type": "routing", "delay": 1.5, "from": {"cell": "u_fc.acc_reg"}, "to": {"cell": "u_out.lut"},
         "sources": ["src/int_mvu.sv:99.4", "/share/ecp5/cells_map.v:10.1"]},
        {"type": "logic", "delay": 0.4, "from": {"cell": "u_out.lut"}, "to": {"cell": "u_out.lut"}},
        {"type": "routing", "delay": 2.0, "from": {"cell": "u_out.lut"}, "to": {"cell": "u_out.q"},
         "sources": ["src/output_argmax.sv:50.1"]},
        {"type": "setup", "delay": 0.1, "from": {"cell": "u_out.q"}, "to": {"cell": "u_out.q"}}]}],
}


def test_report_is_read():
    t = pnr.timing(REPORT)
    assert t["fmax"] == {"$glbnet$clk": {"achieved_mhz": 123.46, "target_mhz": 100.0}}
    path = t["critical_paths"]["posedge clk -> posedge clk"]
    assert path["logic_ns"] == 1.0 and path["routing_ns"] == 3.5
    assert path["blocks"] == ["u_fc", "u_out"]
    assert path["source_lines"] == ["int_mvu.sv:99.4", "output_argmax.sv:50.1"]  # not Yosys' mapping library
    log = "Info: Logic utilisation before packing:\nInfo:     Total LUT4s:     10106/83640    12%\n"
    res = pnr.resources({"design": {"num_cells_by_type": {"LUT4": 7, "CCU2C": 2}}}, REPORT, log)
    assert {k: res[k] for k in pnr.COLUMNS} == {"LUT4": 10106, "FF": 900, "DP16KD": 3, "MULT18X18D": 2, "IO": 11}
    assert res["COMB"] == 1200 and res["RAMW"] == 4
    assert res["PLL"] == 1 and res["yosys_cells"] == {"CCU2C": 2, "LUT4": 7}


def test_scripts():
    script = pnr.yosys_ecp5_script("top", ["src/a.sv", "src/b.v"], {"N": 4, "F": '"rom/f.memh"'}, netlist=True)
    assert 'read_slang -j 1 src/a.sv src/b.v --top top -G N=4 -G F="rom/f.memh"\n' in script
    assert "synth_ecp5 -top top -json top.json" in script and "write_verilog -noattr netlist.v" in script
    with_pll = pnr.yosys_ecp5_script("top", [f"src/{pnr.PRIMITIVES}", "src/pll.v"], {})
    assert "--empty-blackboxes" in with_pll
    cmd = pnr.nextpnr_command(freq=125, out_of_context=True)
    assert "--out-of-context" in cmd and cmd[cmd.index("--freq") + 1] == "125" and "--85k" in cmd
    assert "--lpf" in pnr.nextpnr_command(lpf="board.lpf") and "top.config" in pnr.nextpnr_command(lpf="b.lpf")
    with pytest.raises(ValueError, match="device"):
        pnr.nextpnr_command(device="12k")


@pytest.mark.slow
def test_a_missed_clock_fails_the_run(tmp_path):
    """time_sum out of context at 400 MHz (an ECP5 cannot): the run says so and exits 1."""
    code = pnr.main(["time_sum", "--blocks", str(synth.BLOCKS_YAML), "--preset", "tiny", "--freq", "400",
                     "--out", str(tmp_path)])
    assert code == 1
    result = json.loads((tmp_path / "time_sum.json").read_text())
    assert result["timing_met"] is False and result["out_of_context"] and result["bitstream"] is None
    assert 0 < result["fmax"]["clk"]["achieved_mhz"] < 400
    assert "| time_sum |" in (tmp_path / "pnr.md").read_text()


@pytest.mark.slow
def test_tiny_board_top_to_bitstream(tmp_path):
    """The whole board top of a tiny-preset model at its leanest folding on the ULX3S's 25F part (the same package
    and pins as the 85F): PLL at 50 MHz from the 25 MHz pin, 11 I/O on the board's pins, placed, routed, timing met,
    a bitstream written."""
    spec = {"top": "ulx3s_top", "sources": ["../impl/ulx3s/ulx3s_top.f"], "writer": "bcrnn.rtl.board:board_writer",
            "writer_args": {"folding": "tiny-lean", "baud": 1_000_000}, "lpf": "hw/impl/ulx3s/ulx3s.lpf"}
    result = pnr.implement("ulx3s_tiny", spec, synth.stand_in_packed("tiny"), tmp_path, freq=50.0, device="25k")
    assert result["timing_met"], result["fmax"]
    assert result["resources"]["IO"] == 11 and result["resources"]["PLL"] == 1
    assert result["resources"]["LUT4"] > 1000 and result["resources"]["MULT18X18D"] >= 1
    bit = tmp_path / "ulx3s_tiny" / "top.bit"
    assert result["bitstream"] == str(bit) and bit.stat().st_size > 10_000
    clocks = result["fmax"]
    assert len(clocks) == 1 and next(iter(clocks.values()))["target_mhz"] == pytest.approx(50.0)
