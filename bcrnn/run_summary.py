"""A run folder's fold results summed up: mean +- std of the test scores (the integer reference's for a BCRNN)
and of the kept weights' validation UAR, over the finished folds (and seeds) of a run, also a partial one.
Used by training/summarize.py (the printed rows) and training/repetitions.py (one repetition per seed)."""

from __future__ import annotations

import re

import numpy as np

from bcrnn.run_folder import RunFolder


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
