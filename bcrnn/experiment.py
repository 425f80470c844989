"""A whole experiment: corpus -> features -> speaker-independent folds x seeds -> reports in one run folder
(bcrnn.run_folder describes its layout).

A fold with a result.json is done; `resume=True` skips it and continues a fold that has only last.pt. The folds
train one after another in this process, or with `parallel.jobs` > 1 as Ray tasks (bcrnn.parallel).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bcrnn.config import ExperimentConfig
from bcrnn.corpora import load_corpus
from bcrnn.features import FeatureConfig, FeatureSet, extract_features
from bcrnn.fold_run import run_fold
from bcrnn.folds import Fold, speaker_folds
from bcrnn.integer_scores import complete_integer_evaluation
from bcrnn.parallel import ParallelOptions
from bcrnn.run_export import export_run, publish_model
from bcrnn.run_folder import FEATURE_CACHE, FoldFolder, Logger, RunFolder, RunFolderError, git_sha, write_json
from bcrnn.run_reports import score_seed_ensemble, write_reports
from bcrnn.teacher import check_teacher_run


def parse_fold_selection(spec: str | None, n_folds: int | None) -> set[int]:
    """'3', '0,2,5' or '5-9' -> fold indices; None -> all. With n_folds None, only the syntax is checked."""
    if spec is None:
        return set(range(n_folds or 0))
    chosen = set()
    try:
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            chosen |= set(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise ValueError(f"--only-folds takes indices like 3, 0,2,5 or 5-9, not {spec!r}") from None
    if not chosen:
        raise ValueError(f"--only-folds {spec!r} selects no fold (a range is low-high)")
    if n_folds is not None and not chosen <= set(range(n_folds)):
        raise ValueError(f"--only-folds {spec}: fold indices run from 0 to {n_folds - 1}")
    return chosen


def run_experiment(cfg: ExperimentConfig, out: Path, resume: bool = False, download: bool = False,
                   cache_dir: Path | None = FEATURE_CACHE, progress: bool = True, quiet: bool = False,
                   only_folds: str | None = None, parallel: ParallelOptions | None = None) -> dict | None:
    """Run every fold and seed of `cfg` into `out` and write the reports; returns metrics.json's content.

    `parallel` (default: one at a time, here) runs the folds as Ray tasks. `only_folds` trains a subset, so that
    processes given disjoint subsets can share one run folder; whichever call finds every fold done when it
    finishes writes the reports, and a call that finds some missing returns None.
    """
    parallel = parallel or ParallelOptions()
    run = RunFolder(out)
    parse_fold_selection(only_folds, None)  # syntax, before anything is loaded or written
    check_teacher_run(cfg)
    if parallel.uses_ray and parallel.address:  # said before anything is loaded or written
        from bcrnn.parallel import check_reachable

        check_reachable(parallel.address)
    run.prepare(cfg, resume)
    log = Logger(run.log_file, quiet=quiet)
    if cfg.threads and not parallel.uses_ray:
        torch.set_num_threads(cfg.threads)
    t_start = time.time()
    corpus = load_corpus(cfg.dataset, cfg.data_dir, download=download, merge_excited=cfg.merge_excited)
    fs = extract_features(corpus, FeatureConfig(), cache_dir=cache_dir, progress=progress)
    log(corpus.summary())
    folds = speaker_folds(fs.speakers, cfg.folds)
    selected = parse_fold_selection(only_folds, len(folds))
    run.write_config({
        "experiment": cfg.to_dict(), "classes": list(fs.classes), "git_sha": git_sha(),
        "folds": [f.__dict__ for f in folds], "torch_threads": 1 if parallel.uses_ray else torch.get_num_threads(),
        "skipped_files": corpus.skipped})
    runs = [(seed, fold, run.fold_folder(seed, fold.name))
            for seed in range(cfg.seed, cfg.seed + cfg.seeds) for fold in folds]
    todo = to_train([r for r in runs if r[1].index in selected], resume, log)
    if parallel.uses_ray:
        from bcrnn.parallel import run_on_ray

        run_on_ray(todo, fs, cfg, run, parallel, log, quiet)
    else:
        for seed, fold, folder in todo:
            run_fold(fs, fold, seed, cfg, folder, log, progress)
    # every fold, whoever trained it: read back now, after this call's own training
    results = read_results(run, runs, fs, log)
    if results is None:
        return None
    publish_model(run, run.finished_folds(seeds={results[0]["seed"]})[0])
    summary = write_reports(run, cfg, fs.classes, results, time.time() - t_start, log)
    if cfg.seeds > 1 and run.packed.exists():
        summary["seed_ensemble"] = score_seed_ensemble(run, fs, log, progress)
        write_json(run.metrics_file, summary)
    if run.packed.exists():
        export_run(run, fs, log)
    return summary


def to_train(runs: list[tuple[int, Fold, FoldFolder]], resume: bool, log) -> list[tuple[int, Fold, FoldFolder]]:
    """The fold runs not done yet (a done one is skipped with `resume`, and an error without it)."""
    todo = []
    for seed, fold, folder in runs:
        if not folder.done:
            todo.append((seed, fold, folder))
        elif not resume:
            raise RunFolderError(f"{folder.path} is done already: pass --resume")
        else:
            log(f"seed {seed} {fold.name}: done earlier")
    return todo


def read_results(run: RunFolder, runs: list[tuple[int, Fold, FoldFolder]], fs: FeatureSet, log) -> list[dict] | None:
    """Every fold's result.json (integer scores added to those trained before they existed); None, said in the
    log, while some fold is not done."""
    results, missing = [], []
    for seed, fold, folder in runs:
        if not folder.done:
            missing.append(f"seed {seed} {fold.name}")
            continue
        results.append(folder.read_result())
        if "test_integer" not in results[-1]:
            complete_integer_evaluation(results[-1], fs, fold, run.at(folder), log)
    if missing:
        log(f"{len(missing)} fold run(s) not done yet ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}):"
            f" the reports are written by the call that finds every fold done (or run once more with --resume)")
        return None
    return results
