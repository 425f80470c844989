"""Score an ensemble of BCRNN runs of the same folds with the integer reference (bcrnn.ensemble): per fold, every
member's packed model scores the fold's test (and validation) speaker, the members' utterance posteriors are
averaged, argmax. A run trained with several seeds scores its own seed ensemble when it ends; this script combines
runs, or picks seeds.

    python training/ensemble.py runs/A runs/B [--seeds 0,1] [--data-dir PATH] [--out runs/ensemble-A-B.json]
        [--threads 1]

Members trained with speaker batch norm are scored with each speaker's own batch-norm statistics (thresholds);
--adapt-batch-norm does so for every member (test-time adaptation on the speaker's unlabelled segments).

With --out, the confusion matrix summed over the folds is also drawn beside the JSON (.png).

Members must come from runs of the same corpus and folds (checked).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bcrnn.ensemble import confusion_lines, plot, score_ensemble, summary_line
from bcrnn.run_folder import FEATURE_CACHE, RunFolder, RunFolderError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
