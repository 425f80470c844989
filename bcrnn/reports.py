"""Run reports: aggregated metrics, confusion and learning-curve plots, and the poster comparison table."""

from __future__ import annotations

import numpy as np

from bcrnn import metrics
from bcrnn.plotting import figure

# The poster's Tables 1 and 2 (UAR %, model size MB), for the printed comparison.
POSTER_ROWS = [
    ("DNN-ELM [2]", {"iemocap": 51.2, "emodb": 71.6}, 12.33),
    ("3-D ACRNN [3]", {"iemocap": 64.2, "emodb": 81.5}, 323.46),
    ("Full-precision CRNN (poster)", {"iemocap": 62.4, "emodb": 80.1}, 105.48),
    ("BCRNN (poster)", {"iemocap": 61.9, "emodb": 79.7}, 4.34),
]


def aggregate(results: list[dict], classes: tuple[str, ...]) -> dict:
    """metrics.json content: per fold and seed, and mean +- std over all of them.

    For a BCRNN with an integer deployment, the headline figures are the integer reference's ("test_integer");
    the float training model's are kept as "float_*".
    """
    integer = all("test_integer" in r for r in results)
    if integer:
        float_uars = [r["test"]["uar"] for r in results]
        results = [dict(r, test=r["test_integer"], test_float=r["test"]) for r in results]
    uars = [r["test"]["uar"] for r in results]
    was = [r["test"]["wa"] for r in results]
    conf = np.sum([np.asarray(r["test"]["confusion"]) for r in results], axis=0)
    recalls = np.asarray([r["test"]["recall"] for r in results], dtype=np.float64)
    per_seed = {}
    for r in results:
        per_seed.setdefault(r["seed"], []).append(r["test"]["uar"])
    extra = {}
    if integer:
        extra = {"scored_by": "integer reference (bcrnn.reference)",
                 "float_uar_mean": metrics.mean_std(float_uars)[0], "float_uar_std": metrics.mean_std(float_uars)[1],
                 "integer_float_agreement": float(np.mean([r["integer_float_agreement"] for r in results]))}
    return extra | {
        "n_runs": len(results),
        "uar_mean": metrics.mean_std(uars)[0], "uar_std": metrics.mean_std(uars)[1],
        "wa_mean": metrics.mean_std(was)[0], "wa_std": metrics.mean_std(was)[1],
        "per_class_recall_mean": dict(zip(classes, np.nanmean(recalls, axis=0).tolist())),
        "uar_pooled": metrics.uar(conf), "wa_pooled": metrics.wa(conf),
        "uar_per_seed": {str(s): metrics.mean_std(v)[0] for s, v in per_seed.items()},
        "confusion_sum": conf.tolist(),
        "classes": list(classes),
        "folds": [
            {k: r[k] for k in ("fold", "seed", "test_speaker", "validation_speaker", "best_epoch", "epochs_run",
                               "val_uar", "seconds")}
            | {"uar": r["test"]["uar"], "wa": r["test"]["wa"], "recall": r["test"]["recall"]}
            for r in results
        ],
    }


def plot_confusion(conf, classes, path, title: str) -> None:
    conf = np.asarray(conf, dtype=np.float64)
    norm = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    with figure(path, dpi=120, figsize=(1.1 * len(classes) + 2, 1.0 * len(classes) + 1.5)) as (fig, ax):
        im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, f"{norm[i, j]:.2f}\n({int(conf[i, j])})", ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, label="recall")


def plot_curves(results: list[dict], path, title: str) -> None:
    with figure(path, ncols=2, figsize=(11, 4)) as (fig, (a, b)):
        for r in results:
            h = r["history"]
            ep = np.arange(1, len(h["train_loss"]) + 1)
            label = f"test {r['test_speaker']} s{r['seed']}"
            a.plot(ep, h["train_loss"], lw=1, label=label)
            val = np.array([np.nan if v is None else v for v in h["val_uar"]], dtype=float)
            validated = np.isfinite(val)  # epochs skipped by validate_every are null
            b.plot(ep[validated], val[validated], lw=1, label=label)
            b.scatter([r["best_epoch"]], [r["val_uar"]], s=12)
        a.set(xlabel="epoch", ylabel="training loss", title="training loss")
        b.set(xlabel="epoch", ylabel="validation UAR", title="validation UAR (dot: selected epoch)")
        b.legend(fontsize=6, ncol=2)
        fig.suptitle(title, fontsize=10)


def comparison_table(dataset: str, rows: list[tuple[str, dict, dict]]) -> str:
    """The poster's rows beside ours. `rows`: (label, metrics.json dict, size.json dict)."""
    lines = [f"{'approach':<34} {'UAR % (' + dataset + ')':>22} {'WA %':>14} {'size MB':>18}"]
    lines.append("-" * len(lines[0]))
    for name, uars, size in POSTER_ROWS:
        u = f"{uars[dataset]:.1f}" if dataset in uars else "-"
        lines.append(f"{name:<34} {u:>22} {'-':>14} {size:>18.2f}")
    for label, m, s in rows:
        u = f"{100 * m['uar_mean']:.1f} +- {100 * m['uar_std']:.1f}"
        w = f"{100 * m['wa_mean']:.1f} +- {100 * m['wa_std']:.1f}"
        if s.get("binary"):
            size = f"{s['packed_mb']:.3f} (f32 {s['float32_mb']:.2f})"
        else:
            size = f"{s['float32_mb']:.3f}"
        lines.append(f"{label:<34} {u:>22} {w:>14} {size:>18}")
    if dataset not in ("emodb", "iemocap"):
        lines.append(f"(the poster has no {dataset} figures: this corpus is a synthetic smoke test)")
    return "\n".join(lines)
