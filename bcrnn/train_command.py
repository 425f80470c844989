"""Train and evaluate the CRNN / BCRNN with speaker-independent cross-validation.

    bcrnn train                                   # built-in synthetic corpus, BCRNN small (smoke test)
    bcrnn train --recipe emodb-crnn --data-dir PATH   # a named recipe (bcrnn/recipes/): the reported CRNN
    bcrnn train --dataset emodb --data-dir PATH   # Emo-DB, 10 speaker folds: the best single model's recipe
    bcrnn train --config training/configs/emodb_small.yaml --model crnn

The experiment, training and model-setting options are the fields of bcrnn.config.ExperimentConfig,
bcrnn.training.TrainConfig and bcrnn.models.CRNNConfig; an experiment file (--config) uses the same names, training
options under `train:` and model settings under `model_overrides:`, and a flag overrides it. Every fold's
checkpoints and the reports (metrics.json, confusion.png, curves.png, size.json) land in --out; --resume continues
a killed run where it stopped. --jobs N trains N fold runs at a time as Ray tasks (bcrnn.parallel), on a Ray started
on this machine or on a cluster (--ray-address or RAY_ADDRESS); --jobs 1, the default, trains in this process.

A recipe (--recipe NAME, bcrnn.recipes) is an experiment by name, its teacher named by recipe: its run folder is
RUNS/<recipe>-s<seed> and its teacher's run is RUNS/<teacher recipe>-s<its seed>, which must be finished (said at
once otherwise, with the command that trains it; `bcrnn reproduce RECIPE` trains both in order). --dataset emodb
without --config or --recipe trains the best single model's recipe (emodb-bcrnn; with --model crnn, emodb-crnn).
Flags override a recipe as they override an experiment file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from bcrnn.config import ExperimentConfig, dataset_notes, load_config
from bcrnn.corpora.base import CorpusError
from bcrnn.models import CRNNConfig
from bcrnn.options import add_options, given
from bcrnn.parallel import ParallelOptions
from bcrnn.recipes import (Recipe, default_recipe, experiment_config, load_recipe, run_folder, run_recipe_names,
                           run_state)
from bcrnn.run_folder import FEATURE_CACHE
from bcrnn.training import TrainConfig


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML experiment file (training/configs/); flags override it")
    p.add_argument("--recipe", help="a named run recipe (bcrnn/recipes/: " + ", ".join(run_recipe_names()) +
                   ") or a recipe's YAML file; flags override it (default with --dataset emodb and no --config: the "
                   "best single model, emodb-bcrnn, or emodb-crnn with --model crnn)")
    p.add_argument("--runs", default="runs", help="runs root of a recipe: its run folder RUNS/<recipe>-s<seed>, "
                                                 "its teacher's RUNS/<teacher recipe>-s<seed> (default runs)")
    notes = dataset_notes()
    add_options(p.add_argument_group("experiment options"), ExperimentConfig, notes)
    add_options(p.add_argument_group("training options"), TrainConfig, notes)
    add_options(p.add_argument_group("model settings", "replace the preset's value (stored in model_overrides)"),
                CRNNConfig, defaults=False)
    run = p.add_argument_group("the run")
    run.add_argument("--download", action="store_true", help="Emo-DB: download the corpus into --data-dir first")
    run.add_argument("--out", help="run folder (default runs/<dataset>-<model>-<preset>, numbered if it exists)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out (default: the latest one)")
    add_options(run, ParallelOptions)
    run.add_argument("--only-folds", help="train only these fold indices (e.g. 0-4 or 1,3): processes given "
                                          "disjoint ones share a run folder; the last one to finish writes the "
                                          "reports")
    run.add_argument("--cache-dir", default=str(FEATURE_CACHE), help=f"feature cache folder (default {FEATURE_CACHE})")
    run.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    return p


def default_out(base: Path, resume: bool) -> Path:
    """runs/<name>, runs/<name>-2, ...: a fresh folder, or with --resume the latest existing one."""
    candidates = [base] + [base.with_name(f"{base.name}-{i}") for i in range(2, 1000)]
    existing = [c for c in candidates if c.exists()]
    if resume:
        return existing[-1] if existing else base
    return next(c for c in candidates if not c.exists())


def main(argv=None, prog: str | None = None) -> int:
    args = parser(prog).parse_args(argv)
    overrides = {**given(args, ExperimentConfig), **given(args, TrainConfig), **given(args, CRNNConfig)}
    try:
        recipe = chosen_recipe(args)
        cfg = experiment_config(recipe, Path(args.runs), overrides) if recipe else load_config(args.config, overrides)
        parallel = ParallelOptions.from_args(args)
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    changed = recipe is not None and not is_recipe_run(recipe, cfg, Path(args.runs))
    if args.out:
        out = Path(args.out)
    elif recipe and not changed:
        out = run_folder(Path(args.runs), recipe, cfg.seed)
    else:
        out = default_out(Path(args.runs if recipe else "runs") / f"{cfg.dataset}-{cfg.model}-{cfg.preset}",
                          args.resume)
    if recipe:
        print(f"recipe {recipe.name} ({recipe.path}): {recipe.label}"
              + ("; changed by flags, so not its run folder" if changed and not args.out else ""))
        problem = missing_teacher(recipe, cfg, args)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    print(f"run folder: {out}")
    from bcrnn.experiment import run_experiment  # heavy
    from bcrnn.export import ExportCheckError
    from bcrnn.run_folder import RunFolderError

    try:
        run_experiment(cfg, out, resume=args.resume, download=args.download, cache_dir=Path(args.cache_dir),
                       progress=not args.no_progress, only_folds=args.only_folds, parallel=parallel)
    except (CorpusError, RunFolderError, ValueError, ConnectionError) as err:  # ConnectionError: no Ray cluster
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ExportCheckError as err:
        print(f"error: the QONNX export does not compute what the model computes: {err}\n"
              f"(the training reports in {out} are complete; the export is not usable)", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"\ninterrupted: continue with  bcrnn train --out {out} --resume", file=sys.stderr)
        return 130
    return 0


def chosen_recipe(args) -> Recipe | None:
    """--recipe's recipe; without --recipe and --config, the corpus' default recipe for the model (if any)."""
    if args.recipe and args.config:
        raise ValueError("give --recipe or --config, not both")
    if args.recipe:
        return load_recipe(args.recipe)
    if args.config is None and args.dataset is not None:
        return default_recipe(args.dataset, args.model or ExperimentConfig.model)
    return None


def is_recipe_run(recipe: Recipe, cfg: ExperimentConfig, runs: Path) -> bool:
    """Whether `cfg` is the recipe's experiment (any seed, corpus folder and thread count): only then is its run
    folder the recipe's, RUNS/<recipe>-s<seed>, where students look for their teacher."""
    own = {"seed": cfg.seed, "data_dir": cfg.data_dir, "threads": cfg.threads}
    return _teacher_resolved(experiment_config(recipe, runs, own)) == _teacher_resolved(cfg)


def _teacher_resolved(cfg: ExperimentConfig) -> ExperimentConfig:
    """The same teacher folder named relatively (as trained, `runs/...`) or absolutely (a run opened by path)."""
    return dataclasses.replace(cfg, teacher=str(Path(cfg.teacher).resolve())) if cfg.teacher else cfg


def missing_teacher(recipe: Recipe, cfg: ExperimentConfig, args) -> str | None:
    """What is wrong with a recipe's teacher run (missing or unfinished), with the commands that train it; None when
    it is finished, given by --teacher, or not used. A corpus that cannot be read is said first."""
    from bcrnn.teacher import uses_teacher

    teacher = recipe.teacher
    if teacher is None or args.teacher is not None or not uses_teacher(cfg):
        return None
    folder = Path(cfg.teacher)
    state = run_state(folder)
    if state == "done":
        return None
    if not args.download:
        from bcrnn.corpora import CorpusError, load_corpus

        try:
            load_corpus(cfg.dataset, cfg.data_dir, merge_excited=cfg.merge_excited)
        except CorpusError as err:
            return str(err)
    data = f" --data-dir {cfg.data_dir}" if cfg.data_dir else ""
    protocol = "".join(f" {flag} {value}" for flag, value in (("--folds", args.folds), ("--epochs", args.epochs))
                       if value is not None)
    runs = f" --runs {args.runs}" if Path(args.runs) != Path("runs") or protocol else ""
    out = f" --out {folder}" if protocol else ""  # a changed recipe's run has another folder unless told
    first = f"bcrnn train --recipe {teacher.ref}{data}{runs}{protocol}{out}" + (" --resume" if state == "unfinished"
                                                                                 else "")
    return (f"the teacher of recipe {recipe.name}, the run of recipe {teacher.name} in {folder}, is "
            f"{'not finished' if state == 'unfinished' else 'missing'}: train it first (`{first}`), or both in "
            f"order with `bcrnn reproduce {recipe.ref}{data}{runs}{protocol}` (it resumes either where it "
            f"stopped); or name another finished run with --teacher RUN")

