"""A whole experiment: corpus -> features -> speaker-independent folds x seeds -> reports in one run folder.

Layout of a run folder: config.json, train.log, folds/seed<S>/<fold>/{last.pt,best.pt,result.json},
metrics.json, confusion.png, curves.png, size.json, model.pt (the first fold's best model); with several seeds
(BCRNN), ensemble.json and ensemble.png: the seeds' ensemble scored per fold with the integer reference.
A fold with a result.json is done; `resume=True` skips it and continues a fold that has only last.pt.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO

import numpy as np
import torch

from bcrnn import reports
from bcrnn.config import ExperimentConfig
from bcrnn.corpora import load_corpus
from bcrnn.features import FeatureConfig, FeatureSet, Normalizer, extract_features
from bcrnn.folds import Fold, speaker_folds
from bcrnn.models import build_model, init_from_full_precision, load_checkpoint
from bcrnn.size import model_size
from bcrnn.training import SegmentData, adapt_batch_norm, evaluate, fit


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked (exists without --resume, or holds another configuration)."""


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def segment_data(fs: FeatureSet, speakers, norm: Normalizer) -> SegmentData:
    """Normalized segments of `speakers`' utterances; in speaker mode each speaker with its own statistics."""
    parts = []
    for speaker in speakers:
        idx = fs.select([speaker])
        x, y, owner = fs.segments(idx)
        parts.append((norm.for_speaker(fs, speaker)(x), y, owner, idx, np.full(len(y), str(speaker))))
    idx = np.concatenate([p[3] for p in parts])
    return SegmentData(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                       np.concatenate([p[2] for p in parts]), {int(i): int(fs.labels[i]) for i in idx},
                       np.concatenate([p[4] for p in parts]))


class Logger:
    """Prints through tqdm (so progress bars stay intact) and appends to the run's train.log."""

    def __init__(self, path: Path, quiet: bool = False):
        self.path, self.quiet = path, quiet

    def __call__(self, msg: str) -> None:
        from tqdm import tqdm

        if not self.quiet:
            tqdm.write(msg)
        with open(self.path, "a") as f:
            f.write(msg + "\n")


def prepare_run_folder(out: Path, cfg: ExperimentConfig, resume: bool) -> None:
    """Create `out`, or check that the configuration stored there is the one being resumed."""
    cfg_path = out / "config.json"
    if cfg_path.exists():
        if not resume:
            raise RunFolderError(f"{out} already holds a run: pass --resume to continue it, or --out NEW_DIR")
        stored = json.loads(cfg_path.read_text())["experiment"]
        stored = ExperimentConfig.from_dict(stored).to_dict()  # settings added since then take their defaults
        current = cfg.to_dict()
        ignore = {"threads"}
        diff = [k for k in set(stored) | set(current) if k not in ignore and stored.get(k) != current.get(k)]
        if diff:
            raise RunFolderError(f"cannot resume {out}: its configuration differs in {', '.join(sorted(diff))}")
    out.mkdir(parents=True, exist_ok=True)


def run_fold(fs: FeatureSet, fold: Fold, seed: int, cfg: ExperimentConfig, fold_dir: Path, log: Logger,
             progress: bool) -> dict:
    """Train and test one fold; writes best.pt and result.json into `fold_dir`."""
    t0 = time.time()
    norm = Normalizer.fit(fs, fs.select(fold.train), cfg.normalization)
    train, val, test = (segment_data(fs, s, norm) for s in (fold.train, [fold.validation], [fold.test]))
    torch.manual_seed(seed)
    model = build_model(cfg.model, cfg.preset, len(fs.classes), **cfg.model_overrides)
    desc = f"seed {seed} {fold.name}"
    log(f"{desc}: train {len(train.utt_labels)} utt / {len(train)} seg, val {len(val.utt_labels)}, "
        f"test {len(test.utt_labels)}")
    teacher = load_teacher(cfg, fold, seed, norm, log) if cfg.train.distill_weight > 0 or cfg.init_from_teacher \
        else None
    if cfg.init_from_teacher:
        init_from_full_precision(model, teacher)
        log(f"{desc}: weights initialized from the teacher's")
    best, history = fit(model, train, val, len(fs.classes), cfg.train, fold_dir, seed, desc, log, progress,
                        teacher if cfg.train.distill_weight > 0 else None)
    model.load_state_dict(best)
    batch_norm_speaker = fold.test if cfg.train.speaker_batch_norm else None
    if batch_norm_speaker:  # the test speaker's own batch-norm statistics (no labels): its enrolment
        model = adapt_batch_norm(model, test.x)
        best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log(f"{desc}: batch norm adapted to test speaker {fold.test} ({len(test)} segments)")
    res = evaluate(model, test, len(fs.classes))
    best_epoch = history.selected_epoch
    result = {
        "fold": fold.index, "seed": seed, "test_speaker": fold.test, "validation_speaker": fold.validation,
        "train_speakers": list(fold.train), "best_epoch": best_epoch, "epochs_run": len(history.val_uar),
        "val_uar": float(history.val_uar[best_epoch - 1] if history.selected_val_uar is None
                         else history.selected_val_uar),  # of the kept weights (the average, with "average")
        "seconds": time.time() - t0 + 0.0,
        "train_seconds": float(sum(history.seconds)),
        "test": {k: res[k] for k in ("uar", "wa", "recall", "confusion")},
        "predictions": {"utt_id": [str(fs.utt_ids[i]) for i in res["utt_index"]], "y_true": res["y_true"],
                        "y_pred": res["y_pred"]},
        "history": history.__dict__,
    }
    if add_integer_scores(result, model, norm, fs, fold, fold_dir, batch_norm_speaker):
        log(f"{desc}: integer reference test UAR {result['test_integer']['uar']:.3f} (float model "
            f"{res['uar']:.3f}; same decision on {100 * result['integer_float_agreement']:.1f}% of utterances)")
    torch.save({"model": best, "kind": cfg.model, "model_config": model.cfg.to_dict(),
                "n_classes": len(fs.classes), "classes": list(fs.classes), "normalizer": norm.to_dict(),
                "feature_config": fs.config.__dict__, "fold": fold.__dict__, "seed": seed, "git_sha": git_sha(),
                "val_uar": result["val_uar"], "test_uar": res["uar"],
                "batch_norm_speaker": batch_norm_speaker}, fold_dir / "best.pt")
    write_json(fold_dir / "result.json", result)
    log(f"{desc}: float model test UAR {res['uar']:.3f}  WA {res['wa']:.3f}  (best epoch {best_epoch}, "
        f"{result['seconds']:.0f} s)")
    return result


def load_teacher(cfg: ExperimentConfig, fold: Fold, seed: int, norm: Normalizer, log: Logger):
    """The teacher run's model of this fold (the same seed's, else seed 0's), frozen in eval mode. It must have
    been trained on the same speakers with the same feature normalization: its best.pt records both."""
    folds = Path(cfg.teacher) / "folds"  # a run folder: check_teacher_run said so before training began
    candidates = [folds / f"seed{seed}" / fold.name / "best.pt", folds / "seed0" / fold.name / "best.pt"]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise ValueError(f"teacher {cfg.teacher} has no finished {fold.name} (looked for {candidates[0]}): finish "
                         f"that run first (python training/train.py --out {cfg.teacher} --resume)")
    teacher, ckpt = load_checkpoint(path)
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


def check_teacher_run(cfg: ExperimentConfig) -> None:
    """Before anything is loaded or written: a configured teacher (load_config has checked that one is named
    where distillation or initialization uses it) must be a run folder, so that a missing teacher (e.g. on a new
    machine) is said at once with what to do, not after the features are extracted."""
    if not (cfg.train.distill_weight > 0 or cfg.init_from_teacher):
        return
    if not (Path(cfg.teacher) / "config.json").is_file():
        raise ValueError(f"teacher run {cfg.teacher} not found (no {Path(cfg.teacher) / 'config.json'}): train it "
                         f"first on the same corpus and folds with --model crnn and this normalization "
                         f"({cfg.normalization!r}), e.g. for Emo-DB `make emodb-crnn EMODB=PATH`, or pass --teacher")


def add_integer_scores(result: dict, model, norm: Normalizer, fs: FeatureSet, fold: Fold, fold_dir: Path,
                       batch_norm_speaker: str | None = None) -> bool:
    """For a BCRNN with an integer deployment: pack it into `model.packed.npz`, score the test speaker with the
    integer reference (the accuracy the project reports) and compare its decisions with the float model's
    (result["predictions"]). Adds test_integer, packed_bytes, integer_float_agreement; False for other models."""
    if not (model.cfg.binary and model.cfg.lstm_arithmetic == "fixed"):
        return False
    result["test_integer"], result["packed_bytes"] = integer_evaluation(model, norm, fs, fold, fold_dir,
                                                                         batch_norm_speaker)
    result["integer_float_agreement"] = float(np.mean(np.asarray(result["test_integer"]["y_pred"])
                                                      == np.asarray(result["predictions"]["y_pred"])))
    return True


def integer_evaluation(model, norm: Normalizer, fs: FeatureSet, fold: Fold, fold_dir: Path,
                       batch_norm_speaker: str | None = None) -> tuple[dict, int]:
    """Pack the model into `model.packed.npz` and score the test speaker with the integer reference."""
    from bcrnn import metrics
    from bcrnn.packing import pack_model
    from bcrnn.reference.model import ReferenceBCRNN
    from bcrnn.reference.packed_file import save_packed

    packed = pack_model(model, norm.to_dict(), fs.classes, fs.config.__dict__, batch_norm_speaker)
    n_bytes = save_packed(fold_dir / "model.packed.npz", packed)
    ref = ReferenceBCRNN.load(fold_dir / "model.packed.npz")
    idx = fs.select([fold.test])
    stats = norm.for_speaker(fs, fold.test)  # speaker mode: the test speaker's own statistics (no labels)
    y_pred = [int(np.argmax(ref.predict_features(fs.features[i], stats))) for i in idx]
    out = metrics.scores(fs.labels[idx], y_pred, len(fs.classes))
    out["y_pred"] = y_pred
    return out, n_bytes


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (a per-process temporary file, then rename): a kill never leaves half a file."""
    import os

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)


def read_owner(fold_dir: Path) -> str:
    try:
        return (fold_dir / "running.lock").read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def claim_fold(fold_dir: Path) -> IO | None:
    """An exclusive lock on fold_dir/running.lock (which then names its holder, "host pid") while this process
    trains the fold; None if another process holds it. Close the returned file to release it.

    flock, not a pid file: the kernel drops the lock when its holder dies, so a killed run leaves nothing stale
    to take over, and no process can see a half-written claim (two processes once trained the same fold when
    one read the other's pid file between its creation and its write)."""
    import fcntl
    import os
    import socket

    fold_dir.mkdir(parents=True, exist_ok=True)
    lock = open(fold_dir / "running.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    lock.truncate(0)
    lock.write(f"{socket.gethostname()} {os.getpid()}")
    lock.flush()
    return lock


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
                   cache_dir: Path | None = Path("runs/cache"), progress: bool = True, quiet: bool = False,
                   only_folds: str | None = None) -> dict | None:
    """Run every fold and seed of `cfg` into `out` and write the reports; returns metrics.json's content.

    `only_folds` trains a subset, so that several processes can share one run folder (each fold is claimed
    by the process training it); whichever call finds every fold done when it finishes writes the reports,
    and a call that finds some missing returns None.
    """
    out = Path(out)
    parse_fold_selection(only_folds, None)  # syntax, before anything is loaded or written
    check_teacher_run(cfg)
    prepare_run_folder(out, cfg, resume)
    log = Logger(out / "train.log", quiet=quiet)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t_start = time.time()
    corpus = load_corpus(cfg.dataset, cfg.data_dir, download=download, merge_excited=cfg.merge_excited)
    fs = extract_features(corpus, FeatureConfig(), cache_dir=cache_dir, progress=progress)
    log(corpus.summary())
    folds = speaker_folds(fs.speakers, cfg.folds)
    selected = parse_fold_selection(only_folds, len(folds))
    write_json(out / "config.json", {
        "experiment": cfg.to_dict(), "classes": list(fs.classes), "git_sha": git_sha(),
        "folds": [f.__dict__ for f in folds], "torch_threads": torch.get_num_threads(),
        "skipped_files": corpus.skipped})
    runs = [(seed, fold, out / "folds" / f"seed{seed}" / fold.name)
            for seed in range(cfg.seed, cfg.seed + cfg.seeds) for fold in folds]
    for seed, fold, fold_dir in runs:
        if fold.index not in selected:
            continue
        if (fold_dir / "result.json").exists():
            if not resume:
                raise RunFolderError(f"{fold_dir} is done already: pass --resume")
            log(f"seed {seed} {fold.name}: done earlier")
            continue
        lock = claim_fold(fold_dir)
        if lock is None:
            log(f"seed {seed} {fold.name}: being trained by another process ({read_owner(fold_dir)}), skipped here")
            continue
        try:
            if (fold_dir / "result.json").exists():  # finished by another process since the check above
                log(f"seed {seed} {fold.name}: done by another process")
                continue
            run_fold(fs, fold, seed, cfg, fold_dir, log, progress)
        finally:
            lock.close()
    # every fold, whoever trained it: read back now, after this call's own training
    results, missing = [], []
    for seed, fold, fold_dir in runs:
        done = fold_dir / "result.json"
        if not done.exists():
            missing.append(f"seed {seed} {fold.name}")
            continue
        results.append(json.loads(done.read_text()))
        if "test_integer" not in results[-1]:
            complete_integer_evaluation(results[-1], fs, fold, fold_dir, cfg, log)
    if missing:
        log(f"{len(missing)} fold run(s) not done yet ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}):"
            f" the reports are written by the call that finds every fold done (or run once more with --resume)")
        return None
    summary = write_reports(out, cfg, fs.classes, results, time.time() - t_start, log)
    if cfg.seeds > 1 and (out / "model.packed.npz").exists():
        summary["seed_ensemble"] = score_seed_ensemble(out, fs, log, progress)
        write_json(out / "metrics.json", summary)
    if (out / "model.packed.npz").exists():
        export_run(out, fs, log)
    return summary


def score_seed_ensemble(out: Path, fs: FeatureSet, log, progress: bool) -> dict:
    """A multi-seed BCRNN run's seeds as one ensemble per fold (bcrnn.ensemble): ensemble.json, ensemble.png, and
    the figures without the per-fold rows (returned for metrics.json)."""
    from bcrnn.ensemble import confusion_lines, plot, score_ensemble, summary_line

    s = score_ensemble([out], fs, progress=progress)
    write_json(out / "ensemble.json", s)
    plot(s, out / "ensemble.png")
    log("seed " + summary_line(s))
    log("\n".join(confusion_lines(s)))
    return {k: v for k, v in s.items() if k != "folds"}


def export_run(out: Path, fs: FeatureSet, log, n_segments: int = 8) -> dict:
    """Export the run's model (model.pt) to model.qonnx.onnx and check qonnx's execution against the reference
    on real segments of the first fold's test speaker; the check's figures go to export_check.json."""
    from bcrnn.export import check_qonnx_against_reference, export_qonnx_model
    from bcrnn.reference.model import ReferenceBCRNN

    model, ckpt = load_checkpoint(out / "model.pt")
    path = export_qonnx_model(model, out / "model.qonnx.onnx", ckpt["classes"],
                              frames=model.cfg.segment_frames, mels=model.cfg.n_mels)
    norm = Normalizer.from_dict(ckpt["normalizer"]).for_speaker(fs, ckpt["fold"]["test"])
    x, _, _ = fs.segments(fs.select([ckpt["fold"]["test"]]))
    report = check_qonnx_against_reference(path, ReferenceBCRNN.load(out / "model.packed.npz"),
                                           norm(x[:n_segments]))
    write_json(out / "export_check.json", report)
    log(f"QONNX export {path.name}: qonnx execution == integer reference on {report['segments']} segments "
        f"({report['lstm_bits_compared']:,} LSTM bits, every prediction)")
    return report


def run_features(run: Path, data_dir: Path | None = None, cache_dir: Path | None = Path("runs/cache"),
                 progress: bool = True) -> FeatureSet:
    """The features of the corpus a run folder was trained on (its config.json: dataset, merge_excited and, unless
    `data_dir` is given, its data_dir), from the feature cache when there."""
    config_file = Path(run) / "config.json"
    if not config_file.exists():
        raise RunFolderError(f"{run} is not a run folder (no config.json)")
    cfg = json.loads(config_file.read_text())["experiment"]
    corpus = load_corpus(cfg["dataset"], data_dir or cfg.get("data_dir"), merge_excited=cfg.get("merge_excited", False))
    return extract_features(corpus, FeatureConfig(), cache_dir=cache_dir, progress=progress)


def member_folder(run: Path, seed: int, data_dir: Path | None = None, cache_dir: Path | None = Path("runs/cache"),
                  log=print) -> Path:
    """run/members/seed<S>/: seed S's first fold as a run folder of its own (config.json, model.pt, model.packed.npz,
    model.qonnx.onnx checked against the reference), made once. The run folder holds seed 0's (the lowest seed's);
    this is how the FINN build, the RTL simulation and `bcrnn verify` take any member of a seed ensemble."""
    run = Path(run)
    seed_dir = run / "folds" / f"seed{seed}"
    folds = sorted(d for d in seed_dir.iterdir() if (d / "result.json").exists()) if seed_dir.is_dir() else []
    if not folds or not (folds[0] / "model.packed.npz").exists():
        seeds = sorted(d.name for d in (run / "folds").glob("seed*"))
        raise RunFolderError(f"{run}: no finished BCRNN fold of seed {seed} (seeds here: {', '.join(seeds) or 'none'})")
    dest = run / "members" / f"seed{seed}"
    if (dest / "model.qonnx.onnx").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "config.json", dest / "config.json")
    shutil.copyfile(folds[0] / "best.pt", dest / "model.pt")
    shutil.copyfile(folds[0] / "model.packed.npz", dest / "model.packed.npz")
    export_run(dest, run_features(run, data_dir, cache_dir), log)
    return dest


def complete_integer_evaluation(result: dict, fs: FeatureSet, fold: Fold, fold_dir: Path,
                                cfg: ExperimentConfig, log) -> None:
    """For a fold trained before integer evaluation existed: load its best.pt and add the reference's scores."""
    model, ckpt = load_checkpoint(fold_dir / "best.pt")
    if not add_integer_scores(result, model, Normalizer.from_dict(ckpt["normalizer"]), fs, fold, fold_dir):
        return
    write_json(fold_dir / "result.json", result)
    log(f"seed {result['seed']} {fold.name}: integer reference test UAR {result['test_integer']['uar']:.3f}")


def write_reports(out: Path, cfg: ExperimentConfig, classes, results: list[dict], wall_seconds: float,
                  log) -> dict:
    summary = reports.aggregate(results, tuple(classes))
    summary.update(dataset=cfg.dataset, model=cfg.model, preset=cfg.preset, wall_seconds_this_call=wall_seconds,
                   fold_seconds_total=float(sum(r["seconds"] for r in results)),
                   train_seconds_total=float(sum(r["train_seconds"] for r in results)))
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    model = build_model(cfg.model, cfg.preset, len(classes), **cfg.model_overrides)
    size = {k: v for k, v in model_size(model).items()}
    size["binary"] = model.cfg.binary
    size["note"] = ("MB = 10^6 bytes. float32_mb: every parameter and batch-norm statistic at 32 bits. packed_mb: "
                    "binary weights at 1 bit and every other stored number at 32 bits; for a BCRNN with an integer "
                    "deployment, replaced by the size of model.packed.npz (packed_mb_unfolded keeps the former).")
    title = f"{cfg.model} {cfg.preset} on {cfg.dataset}: UAR {100 * summary['uar_mean']:.1f} +- " \
            f"{100 * summary['uar_std']:.1f} % over {len(results)} fold runs"
    reports.plot_confusion(summary["confusion_sum"], classes, out / "confusion.png", title)
    reports.plot_curves(results, out / "curves.png", title)
    first = out / "folds" / f"seed{results[0]['seed']}"
    first_fold = sorted(first.iterdir())[0] / "best.pt"
    shutil.copyfile(first_fold, out / "model.pt")
    if (first_fold.parent / "model.packed.npz").exists():
        shutil.copyfile(first_fold.parent / "model.packed.npz", out / "model.packed.npz")
        # the deployed model's real size: the packed file (bits, integer thresholds, LSTM multipliers)
        size["packed_mb_unfolded"] = size["packed_mb"]
        size["packed_file_bytes"] = (out / "model.packed.npz").stat().st_size
        size["packed_mb"] = size["packed_file_bytes"] / 1e6
        size["compression"] = size["float32_mb"] / size["packed_mb"]
    (out / "size.json").write_text(json.dumps(size, indent=1))
    label = f"ours: {cfg.model} {cfg.preset}"
    log("\n" + reports.comparison_table(cfg.dataset, [(label, summary, size)]))
    log(f"\n{label}: UAR {100 * summary['uar_mean']:.1f} +- {100 * summary['uar_std']:.1f} %, "
        f"WA {100 * summary['wa_mean']:.1f} +- {100 * summary['wa_std']:.1f} % over {len(results)} fold runs; "
        f"size {size['float32_mb']:.3f} MB float32" + (f", {size['packed_mb']:.4f} MB packed "
                                                        f"({size['compression']:.1f}x)" if size["binary"] else "")
        + f"; training took {sum(r['train_seconds'] for r in results) / 60:.1f} min summed over folds "
        f"(this call {wall_seconds / 60:.1f} min). Reports in {out}/")
    return summary
