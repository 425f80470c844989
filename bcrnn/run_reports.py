"""A finished run's reports in its folder: metrics.json, size.json, confusion.png, curves.png and the printed
comparison with the poster; with several seeds of a BCRNN, the seeds' ensemble (ensemble.json, ensemble.png)."""

from __future__ import annotations

from bcrnn import reports
from bcrnn.config import ExperimentConfig
from bcrnn.features import FeatureSet
from bcrnn.models import build_model
from bcrnn.run_folder import RunFolder, write_json
from bcrnn.size import model_size


def write_reports(run: RunFolder, cfg: ExperimentConfig, classes, results: list[dict], wall_seconds: float,
                  log) -> dict:
    """metrics.json, size.json and the plots of every fold's result; returns metrics.json's content. The run's
    model (model.pt, model.packed.npz) is published before: size.json counts the packed file."""
    summary = reports.aggregate(results, tuple(classes))
    summary.update(dataset=cfg.dataset, model=cfg.model, preset=cfg.preset, wall_seconds_this_call=wall_seconds,
                   fold_seconds_total=float(sum(r["seconds"] for r in results)),
                   train_seconds_total=float(sum(r["train_seconds"] for r in results)))
    write_json(run.metrics_file, summary)
    title = f"{cfg.model} {cfg.preset} on {cfg.dataset}: UAR {100 * summary['uar_mean']:.1f} +- " \
            f"{100 * summary['uar_std']:.1f} % over {len(results)} fold runs"
    reports.plot_confusion(summary["confusion_sum"], classes, run.confusion_plot, title)
    reports.plot_curves(results, run.curves_plot, title)
    size = size_report(run, cfg, classes)
    write_json(run.size_file, size)
    label = f"ours: {cfg.model} {cfg.preset}"
    log("\n" + reports.comparison_table(cfg.dataset, [(label, summary, size)]))
    log(f"\n{label}: UAR {100 * summary['uar_mean']:.1f} +- {100 * summary['uar_std']:.1f} %, "
        f"WA {100 * summary['wa_mean']:.1f} +- {100 * summary['wa_std']:.1f} % over {len(results)} fold runs; "
        f"size {size['float32_mb']:.3f} MB float32" + (f", {size['packed_mb']:.4f} MB packed "
                                                        f"({size['compression']:.1f}x)" if size["binary"] else "")
        + f"; training took {sum(r['train_seconds'] for r in results) / 60:.1f} min summed over folds "
        f"(this call {wall_seconds / 60:.1f} min). Reports in {run}/")
    return summary


def size_report(run: RunFolder, cfg: ExperimentConfig, classes) -> dict:
    """size.json: float32 MB vs packed MB per tensor; for a BCRNN with an integer deployment, the packed file's
    real size (bits, integer thresholds, LSTM multipliers)."""
    model = build_model(cfg.model, cfg.preset, len(classes), **cfg.model_overrides)
    size = dict(model_size(model))
    size["binary"] = model.cfg.binary
    size["note"] = ("MB = 10^6 bytes. float32_mb: every parameter and batch-norm statistic at 32 bits. packed_mb: "
                    "binary weights at 1 bit and every other stored number at 32 bits; for a BCRNN with an integer "
                    "deployment, replaced by the size of model.packed.npz (packed_mb_unfolded keeps the former).")
    if run.packed.exists():
        size["packed_mb_unfolded"] = size["packed_mb"]
        size["packed_file_bytes"] = run.packed.stat().st_size
        size["packed_mb"] = size["packed_file_bytes"] / 1e6
        size["compression"] = size["float32_mb"] / size["packed_mb"]
    return size


def score_seed_ensemble(run: RunFolder, fs: FeatureSet, log, progress: bool) -> dict:
    """A multi-seed BCRNN run's seeds as one ensemble per fold (bcrnn.ensemble): ensemble.json, ensemble.png, and
    the figures without the per-fold rows (returned for metrics.json)."""
    from bcrnn.ensemble import confusion_lines, plot, score_ensemble, summary_line

    s = score_ensemble([run], fs, progress=progress)
    write_json(run.ensemble_file, s)
    plot(s, run.ensemble_plot)
    log("seed " + summary_line(s))
    log("\n".join(confusion_lines(s)))
    return {k: v for k, v in s.items() if k != "folds"}
