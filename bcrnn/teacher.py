"""The distillation teacher: a finished run of the same folds whose fold models teach (or initialize) this run's;
or several such runs of consecutive seeds, whose fold models teach together by their mean logits."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from bcrnn.config import ExperimentConfig
from bcrnn.features import Normalizer
from bcrnn.folds import Fold
from bcrnn.run_folder import RunFolder, RunFolderError


def uses_teacher(cfg: ExperimentConfig) -> bool:
    return cfg.train.distill_weight > 0 or cfg.init_from_teacher


def teacher_runs(cfg: ExperimentConfig) -> list[str]:
    """The teacher run folders: --teacher, and with teacher_seeds N > 1 its N - 1 siblings of the next seeds
    (<name>-s<k> -> <name>-s<k+1>, ..., beside it)."""
    if cfg.teacher_seeds == 1:
        return [cfg.teacher]
    path = Path(cfg.teacher)
    match = re.fullmatch(r"(.*-s)(\d+)", path.name)
    if not match:
        raise ValueError(f"teacher_seeds {cfg.teacher_seeds} takes the runs of consecutive seeds, named <name>-s<k> "
                         f"(as bcrnn reproduce names them); the teacher {cfg.teacher} is not")
    first = int(match.group(2))
    return [str(path.with_name(f"{match.group(1)}{first + i}")) for i in range(cfg.teacher_seeds)]


def check_teacher_run(cfg: ExperimentConfig) -> None:
    """Before anything is loaded or written: a configured teacher (ExperimentConfig checks that one is named
    where distillation or initialization uses it) must be a run folder, so that a missing teacher (e.g. on a new
    machine) is said at once with what to do, not after the features are extracted."""
    if not uses_teacher(cfg):
        return
    for teacher in teacher_runs(cfg):
        try:
            run = RunFolder.open(teacher, allow_fold=False)
        except RunFolderError as err:
            raise ValueError(f"teacher run {teacher} not found ({err}): train it first on the same corpus and folds "
                             f"with --model crnn and this normalization ({cfg.normalization!r}), e.g. for Emo-DB "
                             f"`bcrnn train --recipe emodb-crnn --data-dir PATH` (into runs/emodb-crnn-s0), or pass "
                             f"--teacher") from None
        theirs = run.experiment
        if theirs.get("dataset") != cfg.dataset:
            raise ValueError(f"teacher run {teacher} was trained on {theirs.get('dataset')}, not {cfg.dataset}")
        if theirs.get("folds") is not None and (cfg.folds is None or cfg.folds > theirs["folds"]):
            raise ValueError(f"teacher run {teacher} has only the first {theirs['folds']} folds, this run needs "
                             f"{cfg.folds or 'all'}: give --folds {theirs['folds']} or another --teacher")


class MeanLogits(torch.nn.Module):
    """Several teacher models of one fold as one: the mean of their logits."""

    def __init__(self, models):
        super().__init__()
        self.members = torch.nn.ModuleList(models)

    def forward(self, x):
        return torch.stack([m(x) for m in self.members]).mean(0)


def load_teacher(cfg: ExperimentConfig, fold: Fold, seed: int, norm: Normalizer, log, run_paths=None):
    """The teacher runs' models of this fold (each run's model of the same seed, else of seed 0), frozen in eval
    mode; several (teacher_seeds > 1) as one MeanLogits. `run_paths`: where the teacher runs are read, in
    teacher_runs' order (default: teacher_runs; copies of their files on another machine, bcrnn.parallel)."""
    paths = teacher_runs(cfg) if run_paths is None else run_paths
    models = [_load_one(cfg, path, fold, seed, norm, log) for path in paths]
    return models[0] if len(models) == 1 else MeanLogits(models).eval()


def _load_one(cfg: ExperimentConfig, run_path, fold: Fold, seed: int, norm: Normalizer, log):
    """One teacher run's model of this fold. It must have been trained on the same speakers with the same feature
    normalization: its best.pt records both."""
    # check_teacher_run said it is a run before training began
    run = RunFolder.open(run_path, allow_fold=False)
    candidates = [run.fold_folder(seed, fold.name), run.fold_folder(0, fold.name)]
    found = next((c for c in candidates if c.best.is_file()), None)
    if found is None:
        raise ValueError(f"teacher {run_path} has no finished {fold.name} (looked for {candidates[0].best}): "
                         f"finish that run first (bcrnn train --out {run_path} --resume)")
    teacher, ckpt = run.at(found).load_model()
    path = found.best
    if sorted(ckpt["fold"]["train"]) != sorted(fold.train) or ckpt["fold"]["test"] != fold.test:
        raise ValueError(f"teacher {path} was trained on other speakers than {fold.name}")
    theirs = ckpt["normalizer"]
    if theirs.get("mode", "global") != norm.mode or not (np.allclose(theirs["mean"], norm.mean, rtol=1e-4, atol=1e-5)
                                                           and np.allclose(theirs["std"], norm.std, rtol=1e-4)):
        raise ValueError(f"teacher {path} normalizes features differently (normalization mode or statistics)")
    for p in teacher.parameters():
        p.requires_grad_(False)
    log(f"{fold.name}: teacher {path} (distillation weight {cfg.train.distill_weight}, "
        f"T {cfg.train.distill_temperature}; initialization from it: {cfg.init_from_teacher})")
    return teacher.eval()
