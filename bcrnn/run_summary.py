"""A run folder's fold results summed up: mean +- std of the test scores (the integer reference's for a BCRNN)
and of the kept weights' validation UAR, over the finished folds (and seeds) of a run, also a partial one
(--only-folds). `bcrnn summarize` prints them; bcrnn.repetitions reads one repetition per seed.

    bcrnn summarize runs/A runs/B [--folds 1,3,5,9] [--seeds 0] [--markdown]

For a BCRNN the integer reference's scores are the ones reported (test_integer); std is the population std over
folds, as in metrics.json. --markdown prints the results rows of
docs/experiments.md instead: per-class recall (mean over folds), packed size, training time, and the confusion
matrix summed over the folds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

import numpy as np

from bcrnn.run_folder import RunFolder, RunFolderError


def averaged_val_uars(run: RunFolder) -> dict[str, float]:
    """Validation UAR of each fold's weight average, from train.log: the figure for runs whose result.json holds
    the last epoch's val_uar instead of the kept weights'."""
    log = run.log_file
    pattern = re.compile(r"^seed (\d+) (\S+): average of the last \d+ epochs' weights.*val UAR ([0-9.]+)", re.M)
    return {f"seed{m[1]}/{m[2]}": float(m[3]) for m in pattern.finditer(log.read_text())} if log.exists() else {}


def summarize(run: RunFolder, folds: set[int] | None = None, seeds: set[int] | None = None) -> dict:
    """Test scores over the finished folds, and the validation UAR of the kept weights (the one honest guide for
    choosing between recipes: the validation speaker is never a test speaker of its fold)."""
    rows, averaged = [], averaged_val_uars(run)
    for fold in run.finished_folds():
        r = fold.read_result()
        if (folds is not None and r["fold"] not in folds) or (seeds is not None and r["seed"] not in seeds):
            continue
        scores = r.get("test_integer", r["test"])
        val = averaged.get(f"seed{fold.seed}/{fold.name}", r["val_uar"])
        rows.append((r["fold"], r["test_speaker"], scores["uar"], scores["wa"], r["train_seconds"], r["best_epoch"],
                     "test_integer" in r, scores["recall"], scores["confusion"], r.get("packed_bytes"), val))
    if not rows:
        return {"run": str(run), "n": 0}
    uar, wa, sec, val = (np.array([row[i] for row in rows]) for i in (2, 3, 4, 10))
    return {"run": str(run), "n": len(rows), "folds": [row[0] for row in rows],
            "test_speakers": [row[1] for row in rows],
            "per_fold_uar": [float(u) for u in uar], "selected_epochs": [row[5] for row in rows],
            "uar_mean": float(uar.mean()), "uar_std": float(uar.std()), "wa_mean": float(wa.mean()),
            "wa_std": float(wa.std()), "val_uar_mean": float(val.mean()), "val_uar_std": float(val.std()),
            "train_minutes": float(sec.sum() / 60),
            "integer": all(row[6] for row in rows),
            "recall_mean": np.nanmean([row[7] for row in rows], axis=0).tolist(),  # nan: class not in a fold
            "confusion": np.sum([row[8] for row in rows], axis=0).tolist(),
            "packed_mb": max((row[9] or 0) for row in rows) / 1e6 or None}


def markdown(s: dict, run: RunFolder) -> str:
    """The README's row of a run (and its pooled confusion matrix: rows true class, columns predicted)."""
    config = run.config
    exp, classes = config["experiment"], config["classes"]
    if s["packed_mb"]:
        size = f"{s['packed_mb']:.3f} packed"
    else:
        size = f"{json.loads(run.size_file.read_text())['packed_mb']:.3f} float32" if run.size_file.exists() else "?"
    recall = " / ".join(f"{100 * r:.0f}" for r in s["recall_mean"])
    name = run.path.name
    lines = [f"| {exp['model'].upper()} `{exp['preset']}` ({name}) | {s['n']} | **{100 * s['uar_mean']:.1f} +- "
             f"{100 * s['uar_std']:.1f}** | {100 * s['wa_mean']:.1f} +- {100 * s['wa_std']:.1f} | {recall} | {size} | "
             f"{s['train_minutes']:.0f} min |", "",
             f"Confusion matrix of {name}, summed over folds {s['folds']} (rows: true, columns: predicted):", "",
             "| | " + " | ".join(c[:3] for c in classes) + " |", "|---" * (len(classes) + 1) + "|"]
    lines += [f"| {c[:3]} | " + " | ".join(str(int(v)) for v in row) + " |" for c, row in zip(classes, s["confusion"])]
    return "\n".join(lines)


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--folds", help="only these fold indices, e.g. 1,3,5,9")
    p.add_argument("--seeds", help="only these seeds of a multi-seed run, e.g. 0")
    p.add_argument("--markdown", action="store_true",
                   help="the results rows of docs/experiments.md and confusion matrices")
    args = p.parse_args(argv)
    folds = {int(f) for f in args.folds.split(",")} if args.folds else None
    seeds = {int(f) for f in args.seeds.split(",")} if args.seeds else None
    try:
        runs = [RunFolder.open(run, allow_fold=False) for run in args.runs]
    except RunFolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for run in runs:
        s = summarize(run, folds, seeds)
        if not s["n"]:
            print(f"{run}: no finished fold")
            continue
        if args.markdown:
            print(markdown(s, run) + "\n")
            continue
        print(f"{run}: UAR {100 * s['uar_mean']:.1f} +- {100 * s['uar_std']:.1f}  WA {100 * s['wa_mean']:.1f} +- "
              f"{100 * s['wa_std']:.1f}  validation UAR {100 * s['val_uar_mean']:.1f} +- {100 * s['val_uar_std']:.1f}"
              f"  over {s['n']} fold runs {s['folds']} {'(integer reference)' if s['integer'] else ''}"
              f"  per fold {[round(u, 3) for u in s['per_fold_uar']]}  epochs {s['selected_epochs']}"
              f"  train {s['train_minutes']:.0f} min")
    return 0



if __name__ == "__main__":
    sys.exit(main())
