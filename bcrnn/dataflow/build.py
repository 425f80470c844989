"""FINN build of a trained BCRNN run: QONNX -> FINN dataflow graph (our BinaryLSTM layer included) -> folding ->
FINN's estimates and HLS/RTL code -> [with --vivado: IP, stitched IP, bitfile, driver]; then the HW graph is
executed by FINN and compared with the integer reference at every layer boundary on real utterances.

    bcrnn finn runs/emodb-bcrnn-small                       # both targets, verify, report
    bcrnn finn RUN --folding zu3eg-fast --board Ultra96     # one target
    bcrnn finn RUN --seed 1 --folding zu3eg-fast            # another member of a seed ensemble
    bcrnn finn RUN --folding my_target.yaml --vivado        # in the Docker image with Vivado
    bcrnn finn RUN_A RUN_B --folding zu3eg-fast             # an ensemble's members on one device

Outputs (default build/finn/<run name>/): <target>/ (FINN's output folder: report/, intermediate_models/,
bcrnn_estimates.json, verify.json), report.json, report.md and report.png comparing the targets. With several
runs (default build/finn/<A>+<B>/): one such folder per member, and ensemble.json / .md / .png: the members'
dataflows side by side on each target's device (resources added, the slowest member's rate).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bcrnn.run_folder import FEATURE_CACHE, RunFolder, RunFolderError

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_TARGETS = ("zynq7020-small", "zu3eg-fast")


def parse_args(argv=None, prog: str | None = None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN",
                   help="a finished BCRNN run (model.qonnx.onnx, model.packed.npz, model.pt); several runs are the "
                        "members of an ensemble, each built and verified, then checked together against the device")
    p.add_argument("--folding", action="append", metavar="TARGET",
                   help=f"build target: a name in finn_build/targets ({', '.join(DEFAULT_TARGETS)}) or a YAML "
                        "file; repeat for several (default: both)")
    p.add_argument("--seed", type=int, help="build this seed's member of a multi-seed run (its first fold) instead of "
                   "the run's own model (seed 0's); the member is exported to RUN/members/seed<S>/ first")
    p.add_argument("--board", help="FINN board name overriding the target's (its FPGA part follows)")
    p.add_argument("--out", type=Path, help="output folder (default build/finn/<run name>)")
    p.add_argument("--vivado", action="store_true",
                   help="also the steps that need Vivado/Vitis: IP generation, FIFO sizing, stitched IP, bitfile")
    p.add_argument("--data-dir", type=Path, help="corpus folder for the verification (default: the run's)")
    p.add_argument("--speaker", help="test speaker whose utterances are verified (default: the exported fold's)")
    p.add_argument("--max-segments", type=int, default=0, help="verify at most this many segments (0 = all)")
    p.add_argument("--no-verify", action="store_true", help="skip the HW-graph vs reference comparison")
    p.add_argument("--hls-csim", action="store_true",
                   help="also run the LSTM layer's HLS C simulation (hw/hls, g++ + ap_types) with the build's "
                        "folding on the verified segments' LSTM inputs, compared bit for bit with the reference")
    p.add_argument("--cppsim", action="store_true",
                   help="verify with FINN's cppsim of every HLS layer (needs finn-hlslib and Vitis HLS headers)")
    return p.parse_args(argv)


def verification_segments(run: RunFolder, data_dir: Path | None, speaker: str | None):
    """Real segments of one speaker, z-scored with the run's training statistics."""
    from bcrnn.features import Normalizer

    _, ckpt = run.load_model()
    fs = run.features(data_dir, ROOT / FEATURE_CACHE)
    speaker = speaker or ckpt["fold"]["test"]
    if speaker not in set(fs.speakers):
        raise SystemExit(f"speaker {speaker!r} is not in the corpus (speakers: {sorted(set(fs.speakers))})")
    return speaker, Normalizer.from_dict(ckpt["normalizer"]).normalized_segments(fs, fs.select([speaker]))[0]


def resolve_runs(args) -> list[tuple[str, RunFolder]]:
    """(member name, run) of every RUN given; with --seed, that seed's member of the one run."""
    if args.seed is not None and len(args.run_dirs) > 1:
        raise SystemExit("--seed selects a member of one multi-seed run: give a single RUN with it")
    runs = []
    for run_dir in args.run_dirs:
        run_dir = run_dir.resolve()
        name = run_dir.name
        try:
            run = RunFolder.open(run_dir)
            if args.seed is not None:
                from bcrnn.run_export import member_folder

                run = member_folder(run, args.seed, args.data_dir, ROOT / FEATURE_CACHE)
                name = f"{name}-seed{args.seed}"
        except RunFolderError as e:
            raise SystemExit(str(e))
        if not run.qonnx.is_file():
            raise SystemExit(f"{run_dir}: no model.qonnx.onnx; give the folder of a finished BCRNN training run")
        runs.append((name, run))
    names = [name for name, _ in runs]
    if len(set(names)) != len(names):
        raise SystemExit(f"the members' folder names must differ (they name the outputs): {names}")
    return runs


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    from bcrnn.dataflow.no_vivado import VivadoMissingError
    from bcrnn.dataflow.verify import HWGraphMismatch

    try:
        return build(args)
    except (VivadoMissingError, HWGraphMismatch, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def build(args) -> int:
    """Every member's build, verified, and with several members their dataflows side by side on each device."""
    runs = resolve_runs(args)
    out_root = (args.out or ROOT / "build" / "finn" / "+".join(name for name, _ in runs)).resolve()

    from bcrnn.dataflow.no_vivado import prepare_finn

    have_vivado = prepare_finn(out_root)
    print(f"Vivado: {'found at ' + __import__('os').environ['XILINX_VIVADO'] if have_vivado else 'NOT installed'}"
          f"{'' if have_vivado or not args.vivado else ' -- --vivado cannot run here'}")
    from bcrnn.dataflow import flow

    targets = [flow.BuildTarget.load(t) for t in (args.folding or DEFAULT_TARGETS)]
    if args.board:
        for t in targets:
            t.board, t.fpga_part = args.board, None
    if len(runs) == 1:
        build_member(runs[0][1], targets, out_root, args)
        return 0
    members, inputs = {}, {}
    for name, run in runs:
        print(f"==== member {name}")
        members[name], inputs[name] = build_member(run, targets, out_root / name, args)
    shared = shared_input_stream(inputs)
    ensemble = []
    for i, target in enumerate(targets):
        summary = flow.ensemble_summary({name: summaries[i] for name, summaries in members.items()}, target)
        summary["shared_input_stream"] = shared
        print(f"== ensemble of {len(runs)} on {target.name}\n{flow.format_ensemble_table(summary)}")
        ensemble.append(summary)
    (out_root / "ensemble.json").write_text(json.dumps(ensemble, indent=1))
    (out_root / "ensemble.md").write_text("\n\n".join(f"## {s['target']}: {len(runs)} members side by side\n\n"
                                                     f"```\n{flow.format_ensemble_table(s)}\n```\n\n{s['source']}"
                                                     for s in ensemble) + "\n")
    flow.plot_ensemble(ensemble, out_root / "ensemble.png")
    print(f"ensemble report: {out_root / 'ensemble.md'}, {out_root / 'ensemble.png'}")
    return 0


def shared_input_stream(inputs: dict) -> bool | None:
    """Do the members read the same int8 codes from the verified segments (one input stream fanned out to every
    dataflow)? True for members normalized alike (per-speaker statistics). `inputs`: member -> (speaker,
    segments) or None; None when nothing was verified or the speakers differ."""
    import numpy as np

    from bcrnn.reference.model import quantize_features

    if any(x is None for x in inputs.values()):
        return None
    speakers = {speaker for speaker, _ in inputs.values()}
    if len(speakers) > 1:
        print(f"members verified on different speakers ({', '.join(sorted(speakers))}): their input streams are not "
              "compared (give --speaker)")
        return None
    codes = [quantize_features(x) for _, x in inputs.values()]
    shared = all(c.shape == codes[0].shape and np.array_equal(c, codes[0]) for c in codes[1:])
    print("members' int8 input codes on the verified segments: " +
          ("identical: one input stream feeds them all" if shared else "DIFFERENT: each needs its own input stream"))
    return shared


def build_member(run: RunFolder, targets: list, out_root: Path, args) -> tuple[list[dict], tuple | None]:
    """Every target's build of one run, verified unless --no-verify; its report in `out_root`. Returns the
    targets' summaries and (speaker, segments) of the verification (None without it)."""
    from bcrnn.dataflow import flow

    summaries = []
    segments = None
    for target in targets:
        t0 = time.time()
        print(f"== {target.name}: {target.board} ({target.resolved_part()}), {1e3 / target.clock_ns:g} MHz, "
              f"target {target.target_fps} segments/s")
        out = flow.run_build(run.model_dir, target, out_root / target.name, vivado=args.vivado)
        summary = flow.summarize(out, target)
        print(flow.format_table(summary))
        print(f"   FINN steps: {time.time() - t0:.0f} s; reports in {out}")
        if not args.no_verify:
            if segments is None:
                speaker, segments = verification_segments(run, args.data_dir, args.speaker)
                if args.max_segments:
                    segments = segments[: args.max_segments]
            summary["verify"] = verify(out, run, segments, speaker, args.cppsim)
            if args.hls_csim:
                summary["hls_csim"] = lstm_csim(out, run, segments, speaker)
        (out / "bcrnn_estimates.json").write_text(json.dumps(summary, indent=1))
        summaries.append(summary)
    (out_root / "report.json").write_text(json.dumps(summaries, indent=1))
    (out_root / "report.md").write_text("\n\n".join(f"## {s['target']}\n\n```\n{flow.format_table(s)}\n```"
                                                   for s in summaries) + "\n")
    flow.plot_estimates(summaries, out_root / "report.png")
    print(f"report: {out_root / 'report.md'}, {out_root / 'report.png'}")
    return summaries, (None if segments is None else (speaker, segments))


def verify(out: Path, run: RunFolder, segments, speaker: str, cppsim: bool) -> dict:
    from qonnx.core.modelwrapper import ModelWrapper

    from bcrnn.dataflow.flow import step_model_path
    from bcrnn.dataflow.verify import compare_with_reference
    from bcrnn.reference.model import ReferenceBCRNN

    if cppsim:  # the specialized, folded layers as C++ (HLS) and python (RTL layers)
        from bcrnn.dataflow.cppsim import prepare_cppsim

        model, mode = prepare_cppsim(ModelWrapper(str(step_model_path(out, "step_hw_codegen")))), "cppsim"
    else:  # FINN's python execution is defined on the HW layers before specialization to HLS/RTL
        model, mode = ModelWrapper(str(step_model_path(out, "step_create_dataflow_partition"))), "python"
    t0 = time.time()
    report = compare_with_reference(model, ReferenceBCRNN.load(run.packed), segments)
    result = report.to_dict() | {"speaker": speaker, "exec_mode": mode, "seconds": round(time.time() - t0, 1)}
    (out / "verify.json").write_text(json.dumps(result, indent=1))
    print(f"   HW graph ({mode} execution) == integer reference: {result['values_equal']:,} of "
          f"{result['values_compared']:,} values at {len(result['per_boundary'])} boundaries, "
          f"{result['segments']} segments of speaker {speaker}")
    return result


def lstm_csim(out: Path, run: RunFolder, segments, speaker: str) -> dict:
    """The BinaryLSTM kernel's C simulation with the folding the build chose, on the reference's LSTM inputs."""
    import numpy as np
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from bcrnn.dataflow.flow import step_model_path
    from bcrnn.hls_lstm import run_csim
    from bcrnn.reference.model import ReferenceBCRNN, quantize_features

    hw = ModelWrapper(str(step_model_path(out, "step_hw_codegen")))
    node = next(n for n in hw.graph.node if n.op_type == "BinaryLSTM_hls")
    op = getCustomOp(node)
    pe, simd = op.get_nodeattr("PE"), op.get_nodeattr("SIMD")
    ref = ReferenceBCRNN.load(run.packed)
    streams = [ref.forward(quantize_features(s), trace=True)[1] for s in segments]
    x = np.stack([s["dense"] for s in streams])
    want = np.stack([s["lstm"] for s in streams])
    fwd, bwd = op.directions(hw)
    t0 = time.time()
    got = run_csim(fwd, bwd, op.fmt(), x, pe, simd, out / "hls_csim")
    equal = int((got == want).sum())
    result = {"pe": pe, "simd": simd, "sequences": len(x), "bits_compared": int(want.size), "bits_equal": equal,
              "speaker": speaker, "seconds": round(time.time() - t0, 1)}
    (out / "hls_csim.json").write_text(json.dumps(result, indent=1))
    print(f"   HLS C simulation of BinaryLSTM (PE={pe}, SIMD={simd}) == reference: {equal:,} of {want.size:,} "
          f"bits, {len(x)} sequences of speaker {speaker}")
    if equal != want.size:
        from bcrnn.dataflow.verify import HWGraphMismatch

        raise HWGraphMismatch(f"HLS C simulation differs from the reference on {want.size - equal} bits")
    return result



if __name__ == "__main__":
    sys.exit(main())
