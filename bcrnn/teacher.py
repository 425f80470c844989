"""The distillation teacher: a finished run of the same folds whose fold models teach (or initialize) this run's."""

from __future__ import annotations

import numpy as np

from bcrnn.config import ExperimentConfig
from bcrnn.features import Normalizer
from bcrnn.folds import Fold
from bcrnn.run_folder import RunFolder, RunFolderError


def uses_teacher(cfg: ExperimentConfig) -> bool:
    return cfg.train.distill_weight > 0 or cfg.init_from_teacher


def check_teacher_run(cfg: ExperimentConfig) -> None:
    """Before anything is loaded or written: a configured teacher (ExperimentConfig checks that one is named
    where distillation or initialization uses it) must be a run folder, so that a missing teacher (e.g. on a new
    machine) is said at once with what to do, not after the features are extracted."""
    if not uses_teacher(cfg):
        return
    try:
        run = RunFolder.open(cfg.teacher, allow_fold=False)
    except RunFolderError as err:
        raise ValueError(f"teacher run {cfg.teacher} not found ({err}): train it first on the same corpus and folds "
                         f"with --model crnn and this normalization ({cfg.normalization!r}), e.g. for Emo-DB "
                         f"`bcrnn train --recipe emodb-crnn --data-dir PATH` (into runs/emodb-crnn-s0), or pass "
                         f"--teacher") from None
    theirs = run.experiment
    if theirs.get("dataset") != cfg.dataset:
        raise ValueError(f"teacher run {cfg.teacher} was trained on {theirs.get('dataset')}, not {cfg.dataset}")
    if theirs.get("folds") is not None and (cfg.folds is None or cfg.folds > theirs["folds"]):
        raise ValueError(f"teacher run {cfg.teacher} has only the first {theirs['folds']} folds, this run needs "
                         f"{cfg.folds or 'all'}: give --folds {theirs['folds']} or another --teacher")


def load_teacher(cfg: ExperimentConfig, fold: Fold, seed: int, norm: Normalizer, log, run_path=None):
    """The teacher run's model of this fold (the same seed's, else seed 0's), frozen in eval mode. It must have
    been trained on the same speakers with the same feature normalization: its best.pt records both. `run_path`:
    where the teacher run is read (default cfg.teacher; a copy of its files on another machine, bcrnn.parallel)."""
    # check_teacher_run said it is a run before training began
    run = RunFolder.open(cfg.teacher if run_path is None else run_path, allow_fold=False)
    candidates = [run.fold_folder(seed, fold.name), run.fold_folder(0, fold.name)]
    found = next((c for c in candidates if c.best.is_file()), None)
    if found is None:
        raise ValueError(f"teacher {cfg.teacher} has no finished {fold.name} (looked for {candidates[0].best}): "
                         f"finish that run first (python training/train.py --out {cfg.teacher} --resume)")
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
