"""Mean +- std test UAR / WA over the finished folds of run folders, also of partial runs (--only-folds).

    python training/summarize.py runs/A runs/B [--folds 1,3,5,9] [--seeds 0] [--markdown]

For a BCRNN the integer reference's scores are the ones reported (test_integer); std is the population std over
folds, as in metrics.json. --markdown prints the results rows of docs/experiments.md instead: per-class recall (mean over
folds), packed size, training time, and the confusion matrix summed over the folds.
"""

from __future__ import annotations

import argparse
import json
import sys

from bcrnn.run_folder import RunFolder, RunFolderError
from bcrnn.run_summary import summarize


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--folds", help="only these fold indices, e.g. 1,3,5,9")
    p.add_argument("--seeds", help="only these seeds of a multi-seed run, e.g. 0")
    p.add_argument("--markdown", action="store_true", help="the results rows of docs/experiments.md and confusion matrices")
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
    raise SystemExit(main())
