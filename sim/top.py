"""Simulate the generated `bcrnn_top` on real utterances and compare it with the integer reference.

    python sim/top.py runs/<bcrnn run> --utterances 20 --sim verilator icarus [--folding NAME] [--no-finn]

Takes the first N utterances of the run's test speaker (all their 3-s segments, streamed back to back), checks
every layer boundary and the label against bcrnn.reference, and prints cycles per segment (latency of the first,
and the interval between consecutive outputs = throughput) and segments per second at an ASSUMED 200 MHz (the ZU3EG
target's clock, which no tool here checks; bcrnn.rtl.pnr measures an ECP5's Fmax by place-and-route); then, where the
run has its QONNX export, FINN's estimate of the same network at the same folding (bcrnn.rtl.top.
finn_folding_config; FINN's analytical estimates, no Vivado; build/finn/<run>/rtl-<folding>).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bcrnn.run_folder import FEATURE_CACHE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLOCK_HZ = 200e6


def bench_arrays(packed, segments: np.ndarray, description: dict, log_dir: Path) -> dict:
    """The bench's data: the reference's streams of each z-scored segment (the harness reads the int8 codes from
    `log_dir/pixels.memh`, written here, and logs the RTL's streams there)."""
    from bcrnn.rtl.memfile import pack_word, write_memh

    from bcrnn.reference.model import ReferenceBCRNN, quantize_features

    ref = ReferenceBCRNN.from_arrays(packed)
    codes = np.stack([quantize_features(s) for s in segments])
    traces = [ref.forward(c, trace=True)[1] for c in codes]
    data = {k: np.stack([np.asarray(t[k]) for t in traces]).astype(np.int64)
            for k in ("conv0", "dense", "lstm", "pool", "fc", "logits")}
    pixels = codes.transpose(0, 2, 3, 1).reshape(-1, codes.shape[1])  # segment, time, frequency; channels per beat
    write_memh(Path(log_dir) / "pixels.memh", [pack_word(p, 8) for p in pixels], 8 * codes.shape[1])
    data.update(sum_bits=np.array(description["sum_bits"]), logit_bits=np.array(description["logit_bits"]),
                label_bits=np.array(description["label_bits"]), classes=np.array(description["classes"]),
                log_dir=np.array(str(log_dir)))
    return data


def simulate(packed, segments: np.ndarray, folding, sim: str, build_dir: Path, expected=None) -> dict:
    """Generate bcrnn_top for `packed` (arrays) and `folding` with its harness, run the bench; returns what it
    measured. `expected`: the packed model whose reference streams the bench expects (default `packed`; another
    model shows that the comparison fails)."""
    from bcrnn.rtl.top import generate, write_harness
    from sim.runner import run_bench

    build_dir = Path(build_dir).resolve()
    description = generate(packed, folding, build_dir / "rtl")
    logs = build_dir / "logs"
    harness = write_harness(description, logs, len(segments), segments.shape[2] * segments.shape[3])
    data = bench_arrays(packed if expected is None else expected, segments, description, logs)
    t0 = time.time()
    out = run_bench(sim, "bcrnn_top_harness", description["sources"] + [str(harness)], "sim.bench_bcrnn_top",
                    build_dir=build_dir / "sim", data=data)
    out["seconds"] = round(time.time() - t0, 1)
    if out.get("interval_cycles"):
        out["throughput_cycles"] = int(max(out["interval_cycles"]))
    else:
        out["throughput_cycles"] = out["latency_cycles"]
    out["segments_per_second_200mhz"] = round(CLOCK_HZ / out["throughput_cycles"], 1)
    return out


def open_run(folder: Path):
    """The BCRNN run (or fold of a run) to simulate, with its checkpoint and packed model; SystemExit saying what
    is missing otherwise."""
    from bcrnn.run_folder import RunFolder, RunFolderError

    try:
        run = RunFolder.open(Path(folder).resolve())
    except RunFolderError as err:
        raise SystemExit(str(err))
    if not run.checkpoint.is_file() or not run.packed.is_file():
        raise SystemExit(f"{run.model_dir}: not a BCRNN run or fold folder (no {run.checkpoint.name} or "
                         f"{run.packed.name})")
    return run


def speaker_segments(run, utterances: int, data_dir=None) -> tuple[np.ndarray, str, list[int]]:
    """The z-scored segments of the run's test speaker (`RunFolder.test_segments`), the features cached in the
    checkout."""
    return run.test_segments(utterances, data_dir, ROOT / FEATURE_CACHE)


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--utterances", type=int, default=20)
    p.add_argument("--sim", nargs="+", default=["verilator", "icarus"], choices=["verilator", "icarus"])
    p.add_argument("--folding", help="a folding of hw/rtl/folding/ or a YAML file (default: the ZU3EG folding "
                                      "made for the model's architecture: zu3eg, or zu3eg-wide for the wide/hw preset)")
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--out", type=Path, help="build folder (default build/rtl/<run name>)")
    p.add_argument("--no-finn", action="store_true", help="skip FINN's estimate at the same folding")
    args = p.parse_args(argv)

    from bcrnn.reference.packed_file import load_packed
    from bcrnn.rtl.top import Folding, zu3eg_folding

    run = open_run(args.run_dir)
    segments, speaker, idx = speaker_segments(run, args.utterances, args.data_dir)
    packed = load_packed(run.packed)
    folding = args.folding or zu3eg_folding(packed)
    print(f"folding: {folding}")
    out_root = (args.out or ROOT / "build" / "rtl" / run.model_dir.name).resolve()
    results = {}
    for sim in args.sim:
        r = simulate(packed, segments, Folding.load(folding), sim, out_root / sim)
        results[sim] = r
        print(f"{sim}: bcrnn_top == reference on {r['total_values']:,} values ({len(idx)} utterances, "
              f"{r['segments']} segments of speaker {speaker}, labels included); latency "
              f"{r['latency_cycles']:,} cycles, {r['throughput_cycles']:,} cycles per segment back to back -> "
              f"{r['segments_per_second_200mhz']:,.0f} segments/s at an assumed 200 MHz (clock not checked; ECP5 "
              f"Fmax: python -m bcrnn.rtl.pnr) ({r['seconds']:.0f} s simulated)")
    if not args.no_finn:
        results["finn"] = finn_estimate(run, folding, out_root / args.sim[0] / "rtl" / "bcrnn_top.json")
    (out_root / "top_sim.json").write_text(json.dumps(results, indent=1))
    return 0


def finn_estimate(run, folding: str, description_json: Path) -> dict | None:
    """FINN's estimate of the run's QONNX export at the RTL's folding (printed; None without an export)."""
    if not run.qonnx.is_file():
        print(f"FINN estimate: not available ({run.model_dir} has no model.qonnx.onnx; give the run folder, not a "
              "fold)")
        return None
    from bcrnn.dataflow.no_vivado import prepare_finn
    from bcrnn.rtl.top import finn_folding_config

    name = f"rtl-{Path(folding).stem}"
    out = ROOT / "build" / "finn" / run.model_dir.name / name
    prepare_finn(out)
    from bcrnn.dataflow import flow

    out.mkdir(parents=True, exist_ok=True)
    config = out / "folding_config.json"
    config.write_text(json.dumps(finn_folding_config(json.loads(description_json.read_text())), indent=1))
    # the ZU3EG target's board, part, 200 MHz clock and limits, with the RTL's folding instead of a rate
    target = replace(flow.BuildTarget.load("zu3eg-fast"), name=name, target_fps=None, folding_config=str(config))
    summary = flow.summarize(flow.run_build(run.model_dir, target, out), target)
    print(f"FINN estimate at the same folding ({config}): {summary['bottleneck_cycles']:,} cycles per segment "
          f"({summary['bottleneck']}) -> {summary['segments_per_second']:,.0f} segments/s at an assumed 200 MHz; "
          f"{summary['total']['LUT']:,} LUT, {summary['total']['BRAM_18K']} BRAM_18K, {summary['total']['DSP']} DSP "
          "(FINN's analytical estimates of its own layers, not of this RTL)")
    return summary


if __name__ == "__main__":
    sys.exit(main())
