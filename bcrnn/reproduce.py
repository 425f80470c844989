"""Reproduce a results table, or one recipe's row, from the named recipes (bcrnn.recipes): train what it needs in
dependency order (a teacher before its students), score the ensembles with the integer reference, then print the
table in the README's format beside the poster's rows and write it into the runs root (results-<recipe>.md, .json).

    bcrnn reproduce emodb --data-dir PATH --jobs 2                # the README's Emo-DB table (both protocols, 3 seeds)
    bcrnn reproduce emodb-bcrnn-pair --data-dir PATH --seeds 8 9  # one row, with other members' seeds
    bcrnn reproduce emodb-crnn --data-dir PATH --seeds 0 1 2      # one run recipe with three seeds, one row
    bcrnn reproduce emodb --data-dir PATH --folds 1 --epochs 1    # a quick check: not the protocol, and said so

Called again, it continues where it stopped: a finished run (reports written, a BCRNN's model exported) is skipped,
a cut-short one resumed (bcrnn train --resume), a scored ensemble read back. The runs live under --runs (default
runs/; with --folds or --epochs, runs/quick-folds<K>-epochs<E>, so that a quick check never mixes with the
protocol's runs): RUNS/<recipe>-s<seed>/ and RUNS/<ensemble recipe>-s<A>-s<B>.json. --jobs N trains N fold runs at
a time: one run's folds as Ray tasks (bcrnn train --jobs N), or independent runs side by side (an ensemble's
members), the cores split between them; with --ray-address (or RAY_ADDRESS) the runs go one after another, each
with N fold runs at a time on that cluster. Every step is a `bcrnn` command (train --recipe ..., ensemble), printed
before it starts; one at a time runs in this process, several side by side in processes of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bcrnn.corpora.base import CorpusError
from bcrnn.options import add_options
from bcrnn.parallel import ParallelOptions
from bcrnn.recipes import (Recipe, RecipeError, check_ensemble_seeds, ensemble_file, experiment_config, load_recipe,
                           run_folder, run_state, seed_suffix)
from bcrnn.run_folder import FEATURE_CACHE, RunFolder, RunFolderError, write_json

CORPUS_NAMES = {"emodb": "Emo-DB", "iemocap": "IEMOCAP", "synth": "synth"}


@dataclass(frozen=True)
class Train:
    """One run of a run recipe with one seed, and the runs that teach it (the teacher recipe's runs of
    consecutive seeds, teacher_seeds of them; none without a teacher)."""

    recipe: Recipe
    seed: int
    path: Path
    teachers: "tuple[Train, ...]"

    @property
    def depth(self) -> int:
        return max((t.depth + 1 for t in self.teachers), default=0)


@dataclass(frozen=True)
class Repeats:
    """A run recipe trained with several seeds, one run each, reported as one row over all their fold runs."""

    recipe: Recipe
    runs: tuple[Train, ...]


@dataclass(frozen=True)
class Ensemble:
    """An ensemble recipe's members (runs of its member recipe, one per seed), scored together."""

    recipe: Recipe
    members: tuple[Train, ...]
    path: Path


def plan_train(recipe: Recipe, root: Path, seed: int | None = None) -> Train:
    seed = recipe.seed if seed is None else seed
    teachers = ()
    if recipe.teacher is not None:
        first = recipe.teacher.seed
        teachers = tuple(plan_train(recipe.teacher, root, first + i)
                         for i in range(int(recipe.experiment.get("teacher_seeds", 1))))
    return Train(recipe, seed, run_folder(root, recipe, seed), teachers)


def plan_row(recipe: Recipe, root: Path, seeds: tuple[int, ...] | None = None) -> Train | Repeats | Ensemble:
    if recipe.kind == "run":
        if seeds is None or len(seeds) == 1:
            return plan_train(recipe, root, seeds[0] if seeds else None)
        if len(set(seeds)) != len(seeds):
            raise RecipeError(f"--seeds of {recipe.name}: the seeds {list(seeds)} repeat one")
        return Repeats(recipe, tuple(plan_train(recipe, root, s) for s in seeds))
    if recipe.kind != "ensemble":
        raise RecipeError(f"a row is a run or an ensemble recipe, not the table {recipe.name}")
    if seeds is not None:
        check_ensemble_seeds(list(seeds), f"--seeds of {recipe.name}")
    seeds = recipe.seeds if seeds is None else seeds
    members = tuple(plan_train(recipe.member, root, s) for s in seeds)
    return Ensemble(recipe, members, ensemble_file(root, recipe, seeds))


def plan(target: Recipe, root: Path, seeds: tuple[int, ...] | None = None) -> list[Train | Repeats | Ensemble]:
    """The rows of `target` (a table's rows, each run row with the table's repeats of seeds, or the recipe
    itself), each with the runs it needs."""
    if target.kind == "table":
        if seeds is not None:
            raise RecipeError(f"--seeds picks the seeds of one run or ensemble recipe, not of the table {target.name}")
        return [plan_row(r, root, tuple(r.seed + i for i in range(target.repeats))
                         if r.kind == "run" else None) for r in target.rows]
    return [plan_row(target, root, seeds)]


def row_runs(row: Train | Repeats | Ensemble) -> tuple[Train, ...]:
    return row.members if isinstance(row, Ensemble) else row.runs if isinstance(row, Repeats) else (row,)


def trainings(rows: list[Train | Repeats | Ensemble]) -> list[list[Train]]:
    """Every run the rows need, once, grouped by depth: a teacher's group comes before its students'."""
    found: dict[Path, Train] = {}

    def add(t: Train) -> None:
        for teacher in t.teachers:
            add(teacher)
        found.setdefault(t.path, t)

    for row in rows:
        for t in row_runs(row):
            add(t)
    depth = max((t.depth for t in found.values()), default=-1)
    return [[t for t in found.values() if t.depth == d] for d in range(depth + 1)]


class Reproduction:
    """What one `bcrnn reproduce` call trains and scores, with its options."""

    def __init__(self, args, parallel: ParallelOptions):
        self.args, self.parallel = args, parallel
        self.root = Path(args.runs)
        self.data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
        self.protocol = {k: v for k, v in (("folds", args.folds), ("epochs", args.epochs)) if v is not None}
        package_root = str(Path(__file__).resolve().parents[1])  # the children import this package as this does
        self.env = {**os.environ,
                    "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}

    @property
    def corpus(self) -> list[str]:
        """The corpus and feature cache flags of every step."""
        return ["--data-dir", self.data_dir] * bool(self.data_dir) + ["--cache-dir", self.args.cache_dir]

    def config(self, t: Train):
        return experiment_config(t.recipe, self.root, {"seed": t.seed, "data_dir": self.data_dir, **self.protocol})

    def check(self, t: Train) -> str:
        """The run's state; a run folder holding another configuration is refused before anything trains."""
        cfg = self.config(t)
        state = run_state(t.path)
        if state != "missing":
            try:
                RunFolder(t.path).prepare(cfg, resume=True)
            except RunFolderError as err:
                raise RunFolderError(f"{err}; it is not recipe {t.recipe.name}'s run as asked here (remove it, or "
                                     f"give another --runs)") from None
        return state

    def train_command(self, t: Train, jobs: int, threads: int, resume: bool) -> list[str]:
        parallel = ParallelOptions(jobs, self.parallel.ray_address if jobs > 1 else None)
        cmd = ["train", "--recipe", t.recipe.ref, "--runs", str(self.root), "--seed", str(t.seed),
               "--out", str(t.path), *self.corpus, *parallel.flags(), "--no-progress"]
        cmd += [a for k, v in self.protocol.items() for a in (f"--{k}", str(v))]
        cmd += ["--threads", str(threads)] if threads else []
        return cmd + (["--resume"] if resume else [])

    def run(self, commands: list[list[str]]) -> int:
        """`bcrnn COMMAND ...` for every command, all at once; the worst exit code. One command runs in this
        process (torch is imported once), several side by side in processes of their own."""
        for cmd in commands:
            print("$ bcrnn " + shlex.join(cmd), flush=True)
        if len(commands) == 1:
            from bcrnn.cli import command_main

            return command_main(commands[0][0])(commands[0][1:], prog=f"bcrnn {commands[0][0]}") or 0
        procs = [subprocess.Popen([sys.executable, "-m", "bcrnn.cli", *cmd], env=self.env) for cmd in commands]
        try:
            return max(p.wait() for p in procs)
        except KeyboardInterrupt:
            for p in procs:
                p.wait()
            raise

    def train(self, groups: list[list[Train]], states: dict[Path, str]) -> int:
        jobs, cores = self.parallel.jobs, os.cpu_count() or 1
        for group in groups:
            for t in group:
                if states[t.path] == "done":
                    print(f"done earlier: {t.recipe.name} seed {t.seed} ({t.path})")
            pending = [t for t in group if states[t.path] != "done"]
            side_by_side = 1 if self.parallel.uses_ray and self.parallel.address else min(len(pending), jobs)
            for i in range(0, len(pending), max(side_by_side, 1)):
                batch = pending[i:i + side_by_side]
                per_run = max(1, jobs // len(batch))  # one run's fold runs at a time (> 1: Ray tasks)
                threads = max(1, cores // jobs) if len(batch) > 1 else 0  # 0: all cores (one thread in a Ray task)
                for t in batch:
                    print(f"training {t.recipe.name} seed {t.seed} into {t.path}"
                          + (" (resumed)" if states[t.path] == "unfinished" else "")
                          + (f", taught by {', '.join(str(x.path) for x in t.teachers)}" if t.teachers else ""), flush=True)
                code = self.run([self.train_command(t, per_run, threads, states[t.path] != "missing")
                                 for t in batch])
                if code == 130:
                    raise KeyboardInterrupt
                if code:
                    names = ", ".join(str(t.path) for t in batch)
                    print(f"error: training {names} failed (exit code {code}; its train.log says more); run the "
                          f"same command again to resume", file=sys.stderr)
                    return code
                for t in batch:
                    states[t.path] = run_state(t.path)
                    if states[t.path] != "done":
                        print(f"error: {t.path} is not finished after its training", file=sys.stderr)
                        return 1
        return 0

    def score(self, e: Ensemble) -> int:
        members = [str(m.path) for m in e.members]
        if e.path.is_file():
            try:
                if json.loads(e.path.read_text())["members"] == members:
                    print(f"done earlier: ensemble {e.recipe.name} ({e.path})")
                    return 0
            except (ValueError, KeyError):
                pass
        print(f"scoring ensemble {e.recipe.name} of {', '.join(members)} with the integer reference", flush=True)
        return self.run([["ensemble", *members, "--out", str(e.path), *self.corpus, "--no-progress"]])


def picked_seeds(rows: list[Train | Repeats | Ensemble]) -> tuple[int, ...]:
    """The seeds of a one-row target: its run's, its repeats', or its members'."""
    return tuple(t.seed for t in row_runs(rows[0]))


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _pm(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} +- {100 * std:.1f}"


# A 10-fold run's time is the sum of its fold runs' times over this many cores (two fold runs at a time, as
# --jobs 2 trains them on the 2-core machine the recipes' times were measured on).
CORES = 2


def _fold_figures(runs: tuple[Train, ...]) -> dict:
    """Mean +- std over every fold run of `runs` (UAR, WA, validation UAR), and their 10-fold time."""
    from bcrnn.metrics import mean_std

    summaries = [_read(t.path / "metrics.json") for t in runs]
    folds = [f for m in summaries for f in m["folds"]]
    figures = {}
    for key, name in (("uar", "uar"), ("wa", "wa"), ("val_uar", "val_uar")):
        figures[f"{name}_mean"], figures[f"{name}_std"] = mean_std([f[key] for f in folds])
    return figures | {"folds": len(folds), "classes": summaries[0]["classes"],
                      "minutes_10_folds": sum(m["fold_seconds_total"] for m in summaries) / CORES / 60}


def row_figures(row: Train | Repeats | Ensemble) -> dict:
    """One row of ours: the label, the scores, the size and the time, read from the run folders (and the
    ensemble's JSON)."""
    size = _read(row_runs(row)[0].path / "size.json")
    binary = bool(size.get("binary"))
    common = {"recipe": row.recipe.name, "size_mb": size["packed_mb"] if binary else size["float32_mb"],
              "packed": binary}
    if isinstance(row, Train):
        label = row.recipe.label + ("" if row.seed == row.recipe.seed else f"; seed {row.seed}")
        return _fold_figures((row,)) | common | {"approach": label, "source": str(row.path)}
    if isinstance(row, Repeats):
        from bcrnn.metrics import mean_std

        per_seed = [(t.seed, _fold_figures((t,))["uar_mean"]) for t in row.runs]
        spread = mean_std([u for _, u in per_seed])[1]
        label = (f"{row.recipe.label}; seeds {' / '.join(str(seed) for seed, _ in per_seed)}: "
                 f"{' / '.join(f'{100 * u:.1f}' for _, u in per_seed)} (std over seeds {100 * spread:.1f})")
        # one seed's 10-fold run: the fastest seed's, the one least slowed by whatever else ran beside it
        minutes = min(_fold_figures((t,))["minutes_10_folds"] for t in row.runs)
        return _fold_figures(row.runs) | common | {
            "minutes_10_folds": minutes,
            "approach": label, "source": [str(t.path) for t in row.runs], "seeds_uar_std": spread,
            "seeds": [{"seed": seed, "uar_mean": u} for seed, u in per_seed]}
    s = _read(row.path)
    members = [(m.seed, _fold_figures((m,))["uar_mean"]) for m in row.members]
    label = (f"{row.recipe.label}; seeds {' + '.join(str(seed) for seed, _ in members)} (members "
             f"{' / '.join(f'{100 * u:.1f}' for _, u in members)})")
    return {k: s[k] for k in ("uar_mean", "uar_std", "wa_mean", "wa_std")} | common | {
        "size_mb": s["packed_mb"], "approach": label, "folds": s["n"], "classes": s["classes"], "val_uar_mean": None,
        "minutes_10_folds": _fold_figures(row.members)["minutes_10_folds"], "source": str(row.path),
        "members": [{"seed": seed, "uar_mean": u} for seed, u in members]}


def results_table(target: Recipe, rows: list[Train | Repeats | Ensemble], protocol: dict, seeds) -> dict:
    """The table (markdown, as the README's Results) and its figures: the poster's rows, then ours."""
    from bcrnn.reports import POSTER_ROWS

    dataset = target.dataset
    corpus = CORPUS_NAMES.get(dataset, dataset)
    ours = [row_figures(r) for r in rows]
    quick = "".join(f" --{k} {v}" for k, v in protocol.items())
    for figures, row in zip(ours, rows):
        picked = seeds if seeds is not None else picked_seeds([row]) if isinstance(row, Repeats) else None
        picked = f" --seeds {' '.join(map(str, picked))}" if picked is not None else ""
        figures["command"] = f"bcrnn reproduce {row.recipe.ref} --data-dir ${dataset.upper()}{picked}{quick}"
    poster = [{"approach": name.split(" [")[0] + ("" if "(poster)" in name else " (poster)"),
               "uar": uars[dataset], "size_mb": size} for name, uars, size in POSTER_ROWS if dataset in uars]
    folds = sorted({f["folds"] for f in ours})
    lines = []
    if protocol:
        lines.append(f"**Not the full protocol**: a quick check ({quick.strip()}); its figures say nothing about "
                     f"the recipes.")
    else:
        lines.append(f"Protocol: {corpus}, {len(ours[0]['classes'])} classes, speaker folds "
                     f"({'/'.join(map(str, folds))} fold runs per row: 10 folds x seeds); UAR and WA are mean +- std "
                     f"over the fold runs; a BCRNN is scored by its integer reference; sizes are float32 MB (CRNN) "
                     f"or packed MB (BCRNN); the validation speakers' UAR decides recipes; a 10-fold run's time is "
                     f"its fold runs' times summed over {CORES} cores (a teacher's not included; of several seeds, "
                     f"the fastest).")
    lines += ["", f"| approach | command | {corpus} UAR % | WA % | validation UAR % | size MB | 10-fold time |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {p['approach']} | | {p['uar']:.1f} | | | {p['size_mb']:.2f} | |" for p in poster]
    lines += [f"| ours: {f['approach']} | `{f['command']}` | {_pm(f['uar_mean'], f['uar_std'])} | "
              f"{_pm(f['wa_mean'], f['wa_std'])} | "
              f"{'' if f['val_uar_mean'] is None else _pm(f['val_uar_mean'], f['val_uar_std'])} | "
              f"{f['size_mb']:.3f}{' packed' if f['packed'] else ''} | {f['minutes_10_folds']:.0f} min |"
              for f in ours]
    return {"target": target.name, "dataset": dataset, "full_protocol": not protocol, "overrides": protocol,
            "poster": poster, "rows": ours, "markdown": "\n".join(lines) + "\n"}


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="a recipe of bcrnn/recipes/ (a table such as emodb, an ensemble, a run) or a "
                                  "recipe's YAML file")
    p.add_argument("--data-dir", help="corpus folder (Emo-DB: its wav files, or the folder holding wav/)")
    p.add_argument("--download", action="store_true", help="Emo-DB: download the corpus into --data-dir first")
    p.add_argument("--runs", help="runs root (default runs; with --folds or --epochs runs/quick-folds<K>-epochs<E>)")
    add_options(p, ParallelOptions)
    p.add_argument("--seeds", type=int, nargs="+",
                   help="an ensemble's member seeds (or one run's seed) instead of the recipe's")
    p.add_argument("--folds", type=int, help="a quick check: only the first K speaker folds (not the protocol)")
    p.add_argument("--epochs", type=int, help="a quick check: E epochs per fold (not the protocol)")
    p.add_argument("--cache-dir", default=str(FEATURE_CACHE), help=f"feature cache (default {FEATURE_CACHE})")
    return p


def main(argv=None, prog: str | None = None) -> int:
    args = parser(prog).parse_args(argv)
    for name in ("folds", "epochs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            print(f"error: --{name} must be at least 1", file=sys.stderr)
            return 2
    if args.runs is None:
        args.runs = "runs" if args.folds is None and args.epochs is None else \
            f"runs/quick-folds{args.folds or 'all'}-epochs{args.epochs or 'recipe'}"
    seeds = tuple(args.seeds) if args.seeds else None
    try:
        target = load_recipe(args.target)
        rows = plan(target, Path(args.runs), seeds)
        groups = trainings(rows)
        if args.download:
            if target.dataset != "emodb":
                raise RecipeError("--download fetches Emo-DB only")
            from bcrnn.corpora import DEFAULT_DOWNLOAD_DIR
            from bcrnn.corpora.emodb import download_emodb

            args.data_dir = str(download_emodb(Path(args.data_dir) if args.data_dir else
                                               DEFAULT_DOWNLOAD_DIR / "emodb"))
        if args.data_dir is None and target.dataset != "synth":
            raise RecipeError(f"{target.name} trains on {CORPUS_NAMES.get(target.dataset, target.dataset)}: give "
                              f"--data-dir PATH" + (" (or --download)" if target.dataset == "emodb" else ""))
        from bcrnn.corpora import load_corpus

        load_corpus(target.dataset, args.data_dir)  # a corpus that cannot be read is said before anything trains
        job = Reproduction(args, ParallelOptions.from_args(args))
        states = {t.path: job.check(t) for group in groups for t in group}  # every configuration, before training
    except (RecipeError, FileNotFoundError, RunFolderError, ValueError, CorpusError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ensembles = [r for r in rows if isinstance(r, Ensemble)]
    todo = sum(s != "done" for s in states.values())
    print(f"reproducing {target.name} ({target.label}) in {job.root}: {len(states)} run(s), {todo} to train or "
          f"finish, {len(ensembles)} ensemble(s)" + ("; a quick check (" + " ".join(
              f"--{k} {v}" for k, v in job.protocol.items()) + "), not the protocol" if job.protocol else ""),
          flush=True)
    t0 = time.time()
    try:
        code = job.train(groups, states)
        for e in ensembles:
            code = code or job.score(e)
    except KeyboardInterrupt:
        print("\ninterrupted: the same command continues where it stopped", file=sys.stderr)
        return 130
    if code:
        return code
    table = results_table(target, rows, job.protocol, seeds)
    table["seconds_this_call"] = time.time() - t0
    stem = job.root / f"results-{target.name}{seed_suffix(picked_seeds(rows)) if target.kind != 'table' else ''}"
    stem.with_suffix(".md").write_text(table["markdown"])
    write_json(stem.with_suffix(".json"), table)
    print("\n" + table["markdown"])
    print(f"wrote {stem.with_suffix('.md')} and {stem.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
