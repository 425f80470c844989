"""Score an ensemble of BCRNN runs of the same folds with the integer reference: per fold, every member's packed
model scores the fold's test (and validation) speaker, the members' utterance posteriors are averaged, argmax.

    python training/ensemble.py runs/A runs/B [--seeds 0,1] [--data-dir PATH] [--out runs/ensemble-A-B.json]

With --out, the confusion matrix summed over the folds is also drawn beside the JSON (.png).

Why: the per-fold spread of a single 1-bit model (docs/ablation.md) is as large as the gaps between recipes;
averaging independently trained members is the standard way to cut it. The members' packed sizes add up, and so
does their hardware (or their time on one dataflow). Members must come from runs of the same corpus and folds
(checked). The validation speaker's UAR is printed too: it, not the test score, is what recipes are chosen by.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bcrnn import metrics
from bcrnn.corpora import load_corpus
from bcrnn.features import FeatureConfig, FeatureSet, Normalizer, extract_features
from bcrnn.folds import speaker_folds
from bcrnn.reference.model import ReferenceBCRNN, ensemble_posteriors
from bcrnn.reports import plot_confusion


def member_folds(run: Path, seeds: set[int] | None = None) -> dict[str, list[Path]]:
    """Fold name (fold03-test_10-val_11) -> packed models of that fold, one per seed, over a run's finished folds:
    every seed of a multi-seed run is a member (or those in `seeds`)."""
    found: dict[str, list[Path]] = {}
    for result in sorted(run.glob("folds/seed*/*/result.json")):
        if seeds is not None and int(result.parent.parent.name.removeprefix("seed")) not in seeds:
            continue
        packed = result.parent / "model.packed.npz"
        if not packed.exists():
            raise ValueError(f"{run}: no model.packed.npz in {result.parent} (only BCRNN runs can be ensembled)")
        found.setdefault(result.parent.name, []).append(packed)
    return found


def speaker_posteriors(models: list[ReferenceBCRNN], fs: FeatureSet, speaker: str) -> np.ndarray:
    """(utterances, classes): the members' integer-reference posteriors of `speaker`'s utterances, averaged; the
    speaker's own statistics for members trained with speaker normalization (as training's evaluation)."""
    features = [fs.features[i] for i in fs.select([speaker])]
    stats = Normalizer.from_features(features, "speaker")
    return np.stack([ensemble_posteriors(models, f, stats) for f in features])


def score_ensemble(runs: list[Path], fs: FeatureSet, progress: bool = True, seeds: set[int] | None = None) -> dict:
    """Per-fold and mean +- std scores of the ensemble of `runs` (their `seeds`, default all) over the folds that
    every run has finished."""
    per_run = [member_folds(r, seeds) for r in runs]
    common = sorted(set.intersection(*(set(f) for f in per_run)))
    if not common:
        raise ValueError("the runs have no finished fold in common" + (" with these seeds" if seeds else ""))
    folds = {f.name: f for f in speaker_folds(fs.speakers, None)}
    rows, packed_bytes = [], []
    for name in tqdm(common, desc="ensemble folds", disable=not progress):
        fold = folds.get(name)
        if fold is None:
            raise ValueError(f"fold {name} is not a fold of this corpus: were the runs trained on it?")
        paths = [path for f in per_run for path in f[name]]
        models = [ReferenceBCRNN.load(path) for path in paths]
        packed_bytes.append(sum(path.stat().st_size for path in paths))
        row = {"fold": fold.index, "name": name, "test_speaker": fold.test, "models": len(models)}
        for role, speaker in (("test", fold.test), ("validation", fold.validation)):
            y_true = fs.labels[fs.select([speaker])]
            y_pred = speaker_posteriors(models, fs, speaker).argmax(axis=1)
            row[role] = metrics.scores(y_true, y_pred, len(fs.classes))
        rows.append(row)
    uar = [r["test"]["uar"] for r in rows]
    return {
        "members": [str(r) for r in runs], "seeds": sorted(seeds) if seeds is not None else "all",
        "models_per_fold": sorted({r["models"] for r in rows}), "n": len(rows),
        "classes": list(fs.classes),
        "uar_mean": metrics.mean_std(uar)[0], "uar_std": metrics.mean_std(uar)[1],
        "wa_mean": metrics.mean_std([r["test"]["wa"] for r in rows])[0],
        "wa_std": metrics.mean_std([r["test"]["wa"] for r in rows])[1],
        "val_uar_mean": metrics.mean_std([r["validation"]["uar"] for r in rows])[0],
        "recall_mean": np.nanmean([r["test"]["recall"] for r in rows], axis=0).tolist(),
        "confusion": np.sum([r["test"]["confusion"] for r in rows], axis=0).tolist(),
        "packed_mb": max(packed_bytes) / 1e6, "folds": rows,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="BCRNN run folders of the same corpus and folds")
    p.add_argument("--data-dir", help="corpus folder (default: the first run's)")
    p.add_argument("--cache-dir", default="runs/cache", help="feature cache (default runs/cache)")
    p.add_argument("--seeds", help="comma-separated seeds to take from every run (default: all), e.g. 0,1")
    p.add_argument("--out", help="write the scores to this JSON file (and the confusion matrix to the same name .png)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    try:
        seeds = {int(v) for v in args.seeds.split(",")} if args.seeds else None
    except ValueError:
        print(f"error: --seeds takes comma-separated integers, not {args.seeds!r}", file=sys.stderr)
        return 2
    configs = []
    for r in runs:
        if not (r / "config.json").exists():
            print(f"error: {r} is not a run folder (no config.json)", file=sys.stderr)
            return 2
        configs.append(json.loads((r / "config.json").read_text())["experiment"])
    if len({(c["dataset"], c.get("merge_excited")) for c in configs}) > 1:
        print("error: the runs were trained on different corpora", file=sys.stderr)
        return 2
    data_dir = args.data_dir or configs[0].get("data_dir")
    corpus = load_corpus(configs[0]["dataset"], data_dir, merge_excited=configs[0].get("merge_excited", False))
    fs = extract_features(corpus, FeatureConfig(), cache_dir=Path(args.cache_dir), progress=not args.no_progress)
    try:
        s = score_ensemble(runs, fs, progress=not args.no_progress, seeds=seeds)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r in s["folds"]:
        print(f"  {r['name']}: test UAR {100 * r['test']['uar']:.1f}  "
              f"validation UAR {100 * r['validation']['uar']:.1f}")
    recall = " / ".join(f"{100 * v:.0f}" for v in s["recall_mean"])
    short_classes = "/".join(c[:3] for c in s["classes"])
    print(f"ensemble of {'/'.join(map(str, s['models_per_fold']))} models ({', '.join(r.name for r in runs)}), "
          f"integer reference, {s['n']} folds: UAR {100 * s['uar_mean']:.1f} +- {100 * s['uar_std']:.1f}  "
          f"WA {100 * s['wa_mean']:.1f} +- {100 * s['wa_std']:.1f}  validation UAR {100 * s['val_uar_mean']:.1f}  "
          f"per-class recall ({short_classes}) {recall}  packed {s['packed_mb']:.3f} MB")
    width = max(len(c) for c in s["classes"])
    print("confusion summed over the folds (rows: true, columns: predicted " + short_classes + ")")
    for c, row in zip(s["classes"], s["confusion"]):
        print(f"  {c:>{width}} " + " ".join(f"{v:4d}" for v in row))
    if args.out:
        out = Path(args.out)
        out.write_text(json.dumps(s, indent=1))
        plot_confusion(s["confusion"], s["classes"], out.with_suffix(".png"),
                       f"ensemble of {'/'.join(map(str, s['models_per_fold']))}, {s['n']} folds: "
                       f"UAR {100 * s['uar_mean']:.1f} +- {100 * s['uar_std']:.1f}")
        print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
