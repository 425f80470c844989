"""Seed ensembles of BCRNN runs, scored with the integer reference: per fold, every member's packed model scores
the fold's test (and validation) speaker, the members' utterance posteriors are averaged, argmax. The integer
network runs in the packed engine (bcrnn.engine: the reference's integers bit for bit, tested; 1.5x faster than
the numpy reference on the wide network).

Why: the per-fold spread of a single 1-bit model (docs/ablation.md) is as large as the gaps between recipes;
averaging independently trained members is the standard way to cut it. The members' packed sizes add up, and so
does their hardware (one dataflow per member). The validation speaker's UAR is reported too: it, not the test
score, is what recipes are chosen by. A member trained with speaker batch norm is enrolled on each speaker it
scores (`enrolled_engine`): its packed file holds its test speaker's thresholds only. --adapt-batch-norm
(`adapt_batch_norm=True`) enrols every member so, also those trained without it (AdaBN, Li et al. 2016:
test-time statistics only).

A run trained with several seeds scores its own seed ensemble when it ends; `bcrnn ensemble` combines runs of the
same corpus and folds (checked), or picks seeds:

    bcrnn ensemble runs/A runs/B [--seeds 0,1] [--data-dir PATH] [--out runs/ensemble-A-B.json] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bcrnn import metrics
from bcrnn.engine import PackedEngine
from bcrnn.features import FeatureSet, Normalizer
from bcrnn.fold_data import segment_data
from bcrnn.folds import speaker_folds
from bcrnn.reference.model import ensemble_posteriors
from bcrnn.reports import plot_confusion
from bcrnn.run_folder import FEATURE_CACHE, RunFolder, RunFolderError


def member_folds(run: RunFolder, seeds: set[int] | None = None) -> dict[str, list[RunFolder]]:
    """Fold name (fold03-test_10-val_11) -> the run opened at that fold, one per seed, over the run's finished
    folds: every seed of a multi-seed run is a member (or those in `seeds`)."""
    found: dict[str, list[RunFolder]] = {}
    for fold in run.finished_folds(seeds):
        if not fold.packed.exists():
            raise ValueError(f"{run}: no model.packed.npz in {fold.path} (only BCRNN runs can be ensembled)")
        found.setdefault(fold.name, []).append(run.at(fold))
    return found


def enrolled_engine(member: RunFolder, fs: FeatureSet, speaker: str) -> PackedEngine:
    """A speaker-batch-norm member's integer network for `speaker` (`member`: a run opened at one fold): the
    fold's float model with `speaker`'s own batch-norm statistics, packed again; the stored packed model when it
    already belongs to `speaker` (training's test speaker)."""
    from bcrnn.packing import pack_enrolled
    from bcrnn.reference.model import ReferenceBCRNN

    model, ckpt = member.load_model()
    if ckpt.get("batch_norm_speaker") == speaker:
        return PackedEngine.load(member.packed)
    norm = Normalizer.from_dict(ckpt["normalizer"])
    return PackedEngine(ReferenceBCRNN.from_arrays(pack_enrolled(model, ckpt, segment_data(fs, [speaker], norm).x,
                                                                 speaker)))


def speaker_posteriors(models: list[PackedEngine], fs: FeatureSet, speaker: str) -> np.ndarray:
    """(utterances, classes): the members' integer-reference posteriors of `speaker`'s utterances, averaged; the
    speaker's own statistics for members trained with speaker normalization (as training's evaluation)."""
    features = [fs.features[i] for i in fs.select([speaker])]
    stats = Normalizer.from_features(features, "speaker")
    return np.stack([ensemble_posteriors(models, f, stats) for f in features])


def score_ensemble(runs: list[RunFolder], fs: FeatureSet, progress: bool = True, seeds: set[int] | None = None,
                   adapt_batch_norm: bool = False) -> dict:
    """Per-fold and mean +- std scores of the ensemble of `runs` (their `seeds`, default all) over the folds that
    every run has finished; with `adapt_batch_norm`, every member enrolled on each scored speaker."""
    per_run = [member_folds(r, seeds) for r in runs]
    adaptive = [adapt_batch_norm or r.speaker_batch_norm for r in runs]
    common = sorted(set.intersection(*(set(f) for f in per_run)))
    if not common:
        raise ValueError("the runs have no finished fold in common" + (" with these seeds" if seeds else ""))
    folds = {f.name: f for f in speaker_folds(fs.speakers, None)}
    rows, packed_bytes = [], []
    for name in tqdm(common, desc="ensemble folds", disable=not progress):
        fold = folds.get(name)
        if fold is None:
            raise ValueError(f"fold {name} is not a fold of this corpus: were the runs trained on it?")
        members = [(member, adapts) for f, adapts in zip(per_run, adaptive) for member in f[name]]
        packed_bytes.append(sum(member.packed.stat().st_size for member, _ in members))
        row = {"fold": fold.index, "name": name, "test_speaker": fold.test, "models": len(members)}
        fixed = {member: PackedEngine.load(member.packed) for member, adapts in members if not adapts}
        for role, speaker in (("test", fold.test), ("validation", fold.validation)):
            models = [enrolled_engine(member, fs, speaker) if adapts else fixed[member]
                      for member, adapts in members]
            y_true = fs.labels[fs.select([speaker])]
            y_pred = speaker_posteriors(models, fs, speaker).argmax(axis=1)
            row[role] = metrics.scores(y_true, y_pred, len(fs.classes))
        rows.append(row)
    uar_mean, uar_std = metrics.mean_std([r["test"]["uar"] for r in rows])
    wa_mean, wa_std = metrics.mean_std([r["test"]["wa"] for r in rows])
    return {
        "members": [str(r) for r in runs], "seeds": sorted(seeds) if seeds is not None else "all",
        "enrolled": [str(r) for r, adapts in zip(runs, adaptive) if adapts],
        "models_per_fold": sorted({r["models"] for r in rows}), "n": len(rows),
        "classes": list(fs.classes),
        "uar_mean": uar_mean, "uar_std": uar_std, "wa_mean": wa_mean, "wa_std": wa_std,
        "val_uar_mean": metrics.mean_std([r["validation"]["uar"] for r in rows])[0],
        "recall_mean": np.nanmean([r["test"]["recall"] for r in rows], axis=0).tolist(),
        "confusion": np.sum([r["test"]["confusion"] for r in rows], axis=0).tolist(),
        "packed_mb": max(packed_bytes) / 1e6, "folds": rows,
    }


def summary_line(s: dict, names: str = "") -> str:
    """One line with the ensemble's figures, as `bcrnn ensemble` and a multi-seed run print it."""
    recall = " / ".join(f"{100 * v:.0f}" for v in s["recall_mean"])
    short_classes = "/".join(c[:3] for c in s["classes"])
    return (f"ensemble of {'/'.join(map(str, s['models_per_fold']))} models{f' ({names})' if names else ''}, "
            f"integer reference, {s['n']} folds: UAR {100 * s['uar_mean']:.1f} +- {100 * s['uar_std']:.1f}  "
            f"WA {100 * s['wa_mean']:.1f} +- {100 * s['wa_std']:.1f}  validation UAR {100 * s['val_uar_mean']:.1f}  "
            f"per-class recall ({short_classes}) {recall}  packed {s['packed_mb']:.3f} MB")


def confusion_lines(s: dict) -> list[str]:
    """The confusion matrix summed over the folds, as text."""
    width = max(len(c) for c in s["classes"])
    head = "confusion summed over the folds (rows: true, columns: predicted " + \
        "/".join(c[:3] for c in s["classes"]) + ")"
    rows = [f"  {c:>{width}} " + " ".join(f"{v:4d}" for v in row) for c, row in zip(s["classes"], s["confusion"])]
    return [head] + rows


def plot(s: dict, path: Path) -> None:
    """The confusion matrix summed over the folds."""
    plot_confusion(s["confusion"], s["classes"], path,
                   f"ensemble of {'/'.join(map(str, s['models_per_fold']))}, {s['n']} folds: "
                   f"UAR {100 * s['uar_mean']:.1f} +- {100 * s['uar_std']:.1f}")


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="BCRNN run folders of the same corpus and folds")
    p.add_argument("--data-dir", help="corpus folder (default: the first run's)")
    p.add_argument("--cache-dir", default=str(FEATURE_CACHE), help=f"feature cache (default {FEATURE_CACHE})")
    p.add_argument("--seeds", help="comma-separated seeds to take from every run (default: all), e.g. 0,1")
    p.add_argument("--out", help="write the scores to this JSON file (and the confusion matrix to the same name .png)")
    p.add_argument("--adapt-batch-norm", action="store_true",
                   help="score every member with each scored speaker's own batch-norm statistics (AdaBN), also "
                        "members trained without speaker batch norm")
    p.add_argument("--threads", type=int,
                   help="torch threads of the members' enrolment (default: all cores); 1 beside running trainings, "
                        "which more threads than free cores slow down many times over")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            print("error: --threads must be at least 1", file=sys.stderr)
            return 2
        import torch

        torch.set_num_threads(args.threads)
    try:
        seeds = {int(v) for v in args.seeds.split(",")} if args.seeds else None
    except ValueError:
        print(f"error: --seeds takes comma-separated integers, not {args.seeds!r}", file=sys.stderr)
        return 2
    try:
        runs = [RunFolder.open(r, allow_fold=False) for r in args.runs]
    except RunFolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    configs = [r.experiment for r in runs]
    if len({(c["dataset"], c.get("merge_excited")) for c in configs}) > 1:
        print("error: the runs were trained on different corpora", file=sys.stderr)
        return 2
    fs = runs[0].features(args.data_dir, Path(args.cache_dir), progress=not args.no_progress)
    try:
        s = score_ensemble(runs, fs, progress=not args.no_progress, seeds=seeds,
                           adapt_batch_norm=args.adapt_batch_norm)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r in s["folds"]:
        print(f"  {r['name']}: test UAR {100 * r['test']['uar']:.1f}  "
              f"validation UAR {100 * r['validation']['uar']:.1f}")
    print(summary_line(s, ", ".join(r.path.name for r in runs)))
    if s["enrolled"]:
        print(f"enrolled on every scored speaker (its own batch-norm statistics): {', '.join(s['enrolled'])}")
    print("\n".join(confusion_lines(s)))
    if args.out:
        out = Path(args.out)
        out.write_text(json.dumps(s, indent=1))
        plot(s, out.with_suffix(".png"))
        print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
