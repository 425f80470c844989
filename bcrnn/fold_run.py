"""One fold of one seed: train, keep the selected weights (enrolled on the test speaker with speaker batch norm),
test them, score the integer deployment, and leave best.pt and result.json in the fold folder."""

from __future__ import annotations

import time

import torch

from bcrnn.config import ExperimentConfig
from bcrnn.features import FeatureSet, Normalizer
from bcrnn.fold_data import segment_data
from bcrnn.folds import Fold
from bcrnn.integer_scores import add_integer_scores
from bcrnn.models import build_model, init_from_full_precision
from bcrnn.run_folder import FoldFolder, git_sha
from bcrnn.teacher import load_teacher, uses_teacher
from bcrnn.training import adapt_batch_norm, evaluate, fit


def run_fold(fs: FeatureSet, fold: Fold, seed: int, cfg: ExperimentConfig, folder: FoldFolder, log,
             progress: bool, teacher_runs=None) -> dict:
    """Train and test one fold; writes best.pt and result.json into `folder`. `teacher_runs`: where the teacher
    runs' files are read, if not where cfg names them (bcrnn.parallel, a task on another machine)."""
    t0 = time.time()
    norm = Normalizer.fit(fs, fs.select(fold.train), cfg.normalization)
    train, val, test = (segment_data(fs, s, norm) for s in (fold.train, [fold.validation], [fold.test]))
    torch.manual_seed(seed)
    model = build_model(cfg.model, cfg.preset, len(fs.classes), **cfg.model_overrides)
    desc = f"seed {seed} {fold.name}"
    log(f"{desc}: train {len(train.utt_labels)} utt / {len(train)} seg, val {len(val.utt_labels)}, "
        f"test {len(test.utt_labels)}")
    teacher = load_teacher(cfg, fold, seed, norm, log, teacher_runs) if uses_teacher(cfg) else None
    if cfg.init_from_teacher:
        init_from_full_precision(model, teacher)
        log(f"{desc}: weights initialized from the teacher's")
    best, history = fit(model, train, val, len(fs.classes), cfg.train, folder.path, seed, desc, log, progress,
                        teacher if cfg.train.distill_weight > 0 else None, experiment=cfg.to_dict())
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
    if add_integer_scores(result, model, norm, fs, fold, folder, batch_norm_speaker):
        log(f"{desc}: integer reference test UAR {result['test_integer']['uar']:.3f} (float model "
            f"{res['uar']:.3f}; same decision on {100 * result['integer_float_agreement']:.1f}% of utterances)")
    torch.save({"model": best, "kind": cfg.model, "model_config": model.cfg.to_dict(),
                "n_classes": len(fs.classes), "classes": list(fs.classes), "normalizer": norm.to_dict(),
                "feature_config": fs.config.__dict__, "fold": fold.__dict__, "seed": seed, "git_sha": git_sha(),
                "experiment": cfg.to_dict(), "val_uar": result["val_uar"], "test_uar": res["uar"],
                "batch_norm_speaker": batch_norm_speaker}, folder.best)
    folder.write_result(result)
    log(f"{desc}: float model test UAR {res['uar']:.3f}  WA {res['wa']:.3f}  (best epoch {best_epoch}, "
        f"{result['seconds']:.0f} s)")
    return result
