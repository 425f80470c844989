"""A BCRNN fold scored as it is deployed: packed into the fold's model.packed.npz and run through the integer
reference on the test speaker. This, not the float training model's, is the accuracy the project reports."""

from __future__ import annotations

import numpy as np

from bcrnn.features import FeatureSet, Normalizer
from bcrnn.folds import Fold
from bcrnn.run_folder import FoldFolder, RunFolder


def add_integer_scores(result: dict, model, norm: Normalizer, fs: FeatureSet, fold: Fold, folder: FoldFolder,
                       batch_norm_speaker: str | None = None) -> bool:
    """For a BCRNN with an integer deployment: pack it, score the test speaker with the integer reference and
    compare its decisions with the float model's (result["predictions"]). Adds test_integer, packed_bytes,
    integer_float_agreement; False for other models."""
    if not (model.cfg.binary and model.cfg.lstm_arithmetic == "fixed"):
        return False
    result["test_integer"], result["packed_bytes"] = integer_evaluation(model, norm, fs, fold, folder,
                                                                         batch_norm_speaker)
    result["integer_float_agreement"] = float(np.mean(np.asarray(result["test_integer"]["y_pred"])
                                                      == np.asarray(result["predictions"]["y_pred"])))
    return True


def integer_evaluation(model, norm: Normalizer, fs: FeatureSet, fold: Fold, folder: FoldFolder,
                       batch_norm_speaker: str | None = None) -> tuple[dict, int]:
    """Pack the model into the fold's model.packed.npz and score the test speaker with the integer reference."""
    from bcrnn import metrics
    from bcrnn.packing import pack_model
    from bcrnn.reference.model import ReferenceBCRNN
    from bcrnn.reference.packed_file import save_packed

    packed = pack_model(model, norm.to_dict(), fs.classes, fs.config.__dict__, batch_norm_speaker)
    n_bytes = save_packed(folder.packed, packed)
    ref = ReferenceBCRNN.load(folder.packed)
    idx = fs.select([fold.test])
    # speaker mode: the test speaker's own statistics (no labels); utterance mode: each utterance's, taken by the
    # reference itself
    stats = None if norm.mode == "utterance" else norm.for_speaker(fs, fold.test)
    y_pred = [int(np.argmax(ref.predict_features(fs.features[i], stats))) for i in idx]
    out = metrics.scores(fs.labels[idx], y_pred, len(fs.classes))
    out["y_pred"] = y_pred
    return out, n_bytes


def complete_integer_evaluation(result: dict, fs: FeatureSet, fold: Fold, run: RunFolder, log) -> None:
    """For a fold (`run` opened at it) whose result.json has no integer scores: load its best.pt and add the
    reference's."""
    model, ckpt = run.load_model()
    if not add_integer_scores(result, model, Normalizer.from_dict(ckpt["normalizer"]), fs, fold, run.fold):
        return
    run.fold.write_result(result)
    log(f"seed {result['seed']} {fold.name}: integer reference test UAR {result['test_integer']['uar']:.3f}")
