"""UAR (the headline metric: mean per-class recall), WA (accuracy), per-class recall and confusion matrices."""

from __future__ import annotations

import numpy as np


def confusion(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def per_class_recall(conf: np.ndarray) -> np.ndarray:
    """Recall per class; NaN for a class absent from the true labels (it must not count as 0 or 1)."""
    support = conf.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(conf) / np.maximum(support, 1), np.nan)


def uar(conf: np.ndarray) -> float:
    """Unweighted average recall over the classes present in the true labels."""
    return float(np.nanmean(per_class_recall(conf)))


def wa(conf: np.ndarray) -> float:
    """Weighted accuracy = plain accuracy."""
    return float(np.trace(conf) / max(conf.sum(), 1))


def scores(y_true, y_pred, n_classes: int) -> dict:
    conf = confusion(y_true, y_pred, n_classes)
    return {"uar": uar(conf), "wa": wa(conf), "recall": per_class_recall(conf).tolist(), "confusion": conf.tolist()}


def mean_std(values) -> tuple[float, float]:
    """Mean and population std (ddof=0) of fold figures, as papers usually report them."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std())
