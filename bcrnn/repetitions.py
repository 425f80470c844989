"""Mean over repetitions of a recipe. One seed's 10-fold figure says little about the next seed's (on Emo-DB the
same recipe moved 4 points between seeds), so a recipe is judged by the mean of several full cross-validations.

Every repetition is one cross-validation: a run folder (one repetition per seed it holds; a BCRNN's integer
reference scores, as `bcrnn summarize` reads them) or an ensemble's JSON written by `bcrnn ensemble --out`. Prints
every repetition, the mean +- std of the repetition means and of all fold runs pooled, and, with --reference, the
same for a baseline and the gap between the two. --plot draws every fold's score per test speaker.

    bcrnn repetitions runs/bcrnn-sbn-pair-s6-s7.json runs/bcrnn-sbn-pair-s8-s9.json \\
        --reference runs/s-crnn-spk-avg runs/s-crnn-spk-avg-s1 --plot runs/repetitions.png

Std is the population std, as over folds in metrics.json. All repetitions must cover the same folds (checked).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcrnn.plotting import figure
from bcrnn.run_folder import RunFolder, RunFolderError
from bcrnn.run_summary import summarize


@dataclass
class Repetition:
    """One full cross-validation's scores."""

    name: str
    uar: dict[int, float]  # fold index -> test UAR
    speakers: dict[int, str]  # fold index -> test speaker
    wa: float
    val_uar: float

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.uar.values())))


def read_repetitions(path: Path) -> list[Repetition]:
    """The repetitions stored at `path`: every seed of a run folder, or the one of an ensemble JSON."""
    if path.is_file():
        try:
            s = json.loads(path.read_text())
            folds = s["folds"]
            uar = {f["fold"]: f["test"]["uar"] for f in folds}
            speakers = {f["fold"]: f["test_speaker"] for f in folds}
            rep = Repetition(f"{path.name} ({len(s['members'])} members)", uar, speakers, s["wa_mean"],
                             s["val_uar_mean"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path} is not an ensemble JSON written by bcrnn ensemble --out ({e!r})") from None
        return [rep]
    try:
        run = RunFolder.open(path, allow_fold=False)
    except RunFolderError as err:
        raise ValueError(f"{path} is neither a run folder nor an ensemble JSON ({err})") from None
    seeds = run.seeds()
    reps = []
    for seed in seeds:
        s = summarize(run, seeds={seed})
        if s["n"]:
            name = path.name if len(seeds) == 1 else f"{path.name} seed {seed}"
            reps.append(Repetition(name, dict(zip(s["folds"], s["per_fold_uar"])),
                                   dict(zip(s["folds"], s["test_speakers"])), s["wa_mean"], s["val_uar_mean"]))
    if not reps:
        raise ValueError(f"{path} has no finished fold")
    return reps


def check_same_folds(reps: list[Repetition]) -> None:
    """A mean over repetitions (or a gap between recipes) only means something over the same folds."""
    first = reps[0]
    for r in reps[1:]:
        if set(r.uar) != set(first.uar):
            raise ValueError(f"{r.name} covers folds {sorted(r.uar)}, {first.name} folds {sorted(first.uar)}: "
                             "finish the run (bcrnn train --resume) or compare the same folds")


def group_summary(reps: list[Repetition]) -> dict:
    """Mean +- std over the repetition means, and over all fold runs pooled."""
    means = np.array([r.mean for r in reps])
    pooled = np.array([u for r in reps for u in r.uar.values()])
    return {"repetitions": [{"name": r.name, "uar": r.mean, "wa": r.wa, "val_uar": r.val_uar, "per_fold": r.uar}
                            for r in reps],
            "n": len(reps), "uar_mean": float(means.mean()), "uar_std": float(means.std()),
            "fold_runs": len(pooled), "fold_uar_std": float(pooled.std()),
            "wa_mean": float(np.mean([r.wa for r in reps])), "val_uar_mean": float(np.mean([r.val_uar for r in reps]))}


def _count(n: int) -> str:
    return f"{n} repetition{'s' if n != 1 else ''}"


def format_group(label: str, g: dict) -> list[str]:
    lines = [f"  {r['name']:<46} {100 * r['uar']:6.1f} {100 * r['wa']:6.1f} {100 * r['val_uar']:10.1f}"
             for r in g["repetitions"]]
    lines.append(f"{label}: {_count(g['n'])}, UAR {100 * g['uar_mean']:.1f} +- {100 * g['uar_std']:.1f} over "
                 f"repetitions (+- {100 * g['fold_uar_std']:.1f} over all {g['fold_runs']} fold runs)  "
                 f"WA {100 * g['wa_mean']:.1f}  validation UAR {100 * g['val_uar_mean']:.1f}")
    return lines


def plot(groups: dict[str, list[Repetition]], path: Path) -> None:
    """Every fold's test UAR by test speaker: a dot per repetition, a bar at each recipe's mean per speaker."""
    folds = sorted(next(iter(groups.values()))[0].uar)
    speakers = next(iter(groups.values()))[0].speakers
    x = np.arange(len(folds))
    with figure(path, figsize=(1.0 + 0.75 * len(folds), 4.2)) as (fig, ax):
        for k, (label, reps) in enumerate(groups.items()):
            color = f"C{k}"
            shift = 0.12 * (k - (len(groups) - 1) / 2)
            for r in reps:
                ax.scatter(x + shift, [100 * r.uar[f] for f in folds], s=14, color=color, alpha=0.55)
            fold_means = [100 * np.mean([r.uar[f] for r in reps]) for f in folds]
            mean = 100 * np.mean([r.mean for r in reps])
            ax.scatter(x + shift, fold_means, marker="_", s=300, color=color,
                       label=f"{label}: {mean:.1f} ({_count(len(reps))})")
            ax.axhline(mean, color=color, lw=0.8, ls="--")
        ax.set_xticks(x, [speakers[f] for f in folds])
        ax.set_xlabel("test speaker")
        ax.set_ylabel("test UAR %")
        ax.set_title("every repetition's fold scores (dots), their mean per speaker (bar) and overall (dashed)",
                     fontsize=9)
        ax.legend(fontsize=8, loc="lower right")


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("repetitions", nargs="+", help="run folders and/or ensemble JSONs of one recipe")
    p.add_argument("--reference", nargs="+", default=[], help="the same for a baseline (e.g. the CRNN's runs)")
    p.add_argument("--label", default="recipe", help="name of the recipe in the output (default: recipe)")
    p.add_argument("--reference-label", default="reference", help="name of the baseline (default: reference)")
    p.add_argument("--plot", help="draw the per-fold scores into this PNG")
    p.add_argument("--out", help="write the summaries to this JSON file")
    args = p.parse_args(argv)
    try:
        groups = {args.label: [r for path in args.repetitions for r in read_repetitions(Path(path))]}
        if args.reference:
            groups[args.reference_label] = [r for path in args.reference for r in read_repetitions(Path(path))]
        check_same_folds([r for reps in groups.values() for r in reps])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summaries = {label: group_summary(reps) for label, reps in groups.items()}
    print(f"  {'repetition':<46} {'UAR %':>6} {'WA %':>6} {'val UAR %':>10}")
    for label, g in summaries.items():
        print("\n".join(format_group(label, g)))
    if args.reference:
        gap = 100 * (summaries[args.label]["uar_mean"] - summaries[args.reference_label]["uar_mean"])
        summaries["gap_points"] = gap
        print(f"gap: {args.label} - {args.reference_label} = {gap:+.1f} UAR points (means over repetitions)")
    if args.out:
        Path(args.out).write_text(json.dumps(summaries, indent=1))
        print(f"wrote {args.out}")
    if args.plot:
        plot(groups, Path(args.plot))
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
