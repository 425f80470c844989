"""The model a run deploys: its first fold's, published at the top of the run folder (model.pt, model.packed.npz),
exported to QONNX and checked against the integer reference; any other seed's as a member folder of its own, which
is how the FINN build, the RTL simulation and `bcrnn verify` take any member of a seed ensemble. Training exports
its run when it ends; `bcrnn export` does it again (after a change of the exporter, or for a member):

    bcrnn export runs/<bcrnn run> [--seed S] [--data-dir PATH]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bcrnn.corpora.base import CorpusError
from bcrnn.features import FeatureSet, Normalizer
from bcrnn.run_folder import FEATURE_CACHE, FoldFolder, RunFolder, RunFolderError, write_json


def publish_model(run: RunFolder, fold: FoldFolder) -> None:
    """`fold`'s model as the run's: best.pt -> model.pt, and its packed file when it has one (a BCRNN)."""
    shutil.copyfile(fold.best, run.checkpoint)
    if fold.packed.exists():
        shutil.copyfile(fold.packed, run.packed)


def export_run(run: RunFolder, fs: FeatureSet, log, n_segments: int = 8) -> dict:
    """Export the run's model (model.pt) to model.qonnx.onnx and check qonnx's execution against the reference
    on real segments of the first fold's test speaker; the check's figures go to export_check.json."""
    from bcrnn.export import check_qonnx_against_reference, export_qonnx_model
    from bcrnn.reference.model import ReferenceBCRNN

    model, ckpt = run.load_model()
    path = export_qonnx_model(model, run.qonnx, ckpt["classes"], frames=model.cfg.segment_frames,
                              mels=model.cfg.n_mels)
    x, _, _ = Normalizer.from_dict(ckpt["normalizer"]).normalized_segments(fs, fs.select([ckpt["fold"]["test"]]))
    report = check_qonnx_against_reference(path, ReferenceBCRNN.load(run.packed), x[:n_segments])
    write_json(run.export_check_file, report)
    log(f"QONNX export {path.name}: qonnx execution == integer reference on {report['segments']} segments "
        f"({report['lstm_bits_compared']:,} LSTM bits, every prediction)")
    return report


def member_folder(run: RunFolder, seed: int, data_dir: Path | None = None,
                  cache_dir: Path | None = FEATURE_CACHE, log=print) -> RunFolder:
    """run/members/seed<S>/: seed S's first fold as a run folder of its own (config.json, model.pt,
    model.packed.npz, model.qonnx.onnx checked against the reference), made once. The run folder holds the lowest
    seed's."""
    folds = run.finished_folds(seeds={seed})
    if not folds or not folds[0].packed.exists():
        seeds = ", ".join(f"seed{s}" for s in run.seeds())
        raise RunFolderError(f"{run}: no finished BCRNN fold of seed {seed} (seeds here: {seeds or 'none'})")
    member = run.member(seed)
    if member.qonnx.exists():
        return member
    member.path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run.config_file, member.config_file)
    publish_model(member, folds[0])
    export_run(member, run.features(data_dir, cache_dir), log)
    return member


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a finished BCRNN run folder")
    p.add_argument("--seed", type=int, help="export this seed's member (its first fold) to RUN/members/seed<S>/, "
                                            "unless it is there already, instead of the run's own model")
    p.add_argument("--data-dir", help="corpus folder of the check's segments (default: the run's)")
    p.add_argument("--cache-dir", default=str(FEATURE_CACHE), help=f"feature cache (default {FEATURE_CACHE})")
    args = p.parse_args(argv)
    from bcrnn.export import ExportCheckError

    try:
        run = RunFolder.open(args.run_dir, allow_fold=False)
        if args.seed is not None:
            run = member_folder(run, args.seed, args.data_dir, Path(args.cache_dir))
        elif not run.packed.exists():
            raise RunFolderError(f"{run}: no {run.packed.name}: only a BCRNN run has an integer model to export")
        else:
            export_run(run, run.features(args.data_dir, Path(args.cache_dir)), print)
    except (RunFolderError, CorpusError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ExportCheckError as err:
        print(f"error: the QONNX export does not compute what the model computes: {err}", file=sys.stderr)
        return 1
    print(f"{run.qonnx} (checked: {run.export_check_file})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
