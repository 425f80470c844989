"""The model that ships in the package: `bcrnn predict` works with no --model, and its golden vectors (real Emo-DB
segments, every layer boundary) are what the integer reference computes, so a build can be checked against them."""

from pathlib import Path

import numpy as np
import pytest

from bcrnn.reference.model import ReferenceBCRNN
from bcrnn.shipped_model import CARD, GOLDEN, MODEL, check_golden


def test_golden_vectors_reproduce_and_catch_a_changed_value():
    model, golden = ReferenceBCRNN.load(MODEL), dict(np.load(GOLDEN))
    assert len(golden["codes"]) >= 4 and golden["codes"].dtype == np.int8
    assert {"out_conv0", "out_dense", "out_lstm", "out_pool", "out_fc", "out_logits", "label"} <= set(golden)
    values = check_golden(model, golden)
    assert values == sum(v.size for k, v in golden.items() if k != "codes")
    golden["out_lstm"] = golden["out_lstm"].copy()
    golden["out_lstm"][1, 75, 3] ^= 1
    with pytest.raises(ValueError, match="out_lstm differs"):
        check_golden(model, golden)


def test_the_shipped_model_needs_no_enrolment():
    """`bcrnn predict` on one file of an unknown speaker: the shipped model normalizes without that speaker's other
    utterances, and its card says so."""
    model = ReferenceBCRNN.load(MODEL)
    assert model.normalization in ("utterance", "global")
    assert "works on one utterance of an unknown speaker" in CARD.read_text()


def test_model_card_names_its_training_and_score():
    card = CARD.read_text()
    assert "trained on" in card and "normalization" in card and "UAR" in card
    assert f"{MODEL.stat().st_size / 1e3:.0f} KB" in card


def test_predict_without_model_uses_the_shipped_one(emodb_dir, capsys):
    from bcrnn.predict import main

    wav = sorted((emodb_dir / "wav").glob("03a01*.wav"))[0]
    assert main([str(wav)]) == 0
    out, err = capsys.readouterr()
    classes = ReferenceBCRNN.load(MODEL).classes
    assert out.startswith(f"{wav}: ") and out.split(": ")[1].split()[0] in classes
    assert "shipped Emo-DB BCRNN" in err


def test_the_card_names_the_recipe_and_scores_the_shipped_fold(tmp_path, monkeypatch):
    """The card's test UAR is the shipped fold's own (integer reference); the recipe's figure over all its folds
    is a row of its own; the recipe is named only when the run is the recipe's experiment."""
    from types import SimpleNamespace

    from bcrnn.recipes import experiment_config, load_recipe
    from bcrnn.shipped_model import model_card, run_recipe

    root = tmp_path / "runs"
    exp = experiment_config(load_recipe("emodb-bcrnn-global"), root, {"seed": 4}).to_dict()
    packed = tmp_path / "model.packed.npz"
    packed.write_bytes(b"x" * 2000)
    run = SimpleNamespace(path=root / "emodb-bcrnn-global-s4", experiment=exp, packed=packed)
    assert run_recipe(run) == "emodb-bcrnn-global"
    changed = SimpleNamespace(path=run.path, experiment=exp | {"preset": "tiny"}, packed=packed)
    assert run_recipe(changed) is None
    assert run_recipe(SimpleNamespace(path=root / "mine", experiment=exp, packed=packed)) is None
    # trained as `--runs runs` (its teacher recorded as runs/...), shipped by its absolute path
    monkeypatch.chdir(tmp_path)
    relative = experiment_config(load_recipe("emodb-bcrnn-global"), Path("runs"), {"seed": 4}).to_dict()
    assert relative["teacher"] == "runs/emodb-crnn-global-s0"
    assert run_recipe(SimpleNamespace(path=run.path, experiment=relative, packed=packed)) == "emodb-bcrnn-global"
    fold = {"fold": 0, "train_speakers": ["09", "10"], "validation_speaker": "08", "test_speaker": "03",
            "val_uar": 0.7, "test": {"uar": 0.5}, "test_integer": {"uar": 0.625}}
    metrics = {"n_runs": 10, "uar_mean": 0.75, "uar_std": 0.08, "wa_mean": 0.76, "wa_std": 0.07}
    card = model_card(run, ["anger", "boredom"], metrics, fold, "emodb-bcrnn-global")
    assert "| test UAR (speaker 03, integer reference) | 62.5 % |" in card
    assert "| the same recipe over its 10 speaker folds" in card and "UAR 75.0 +- 8.0 %, WA 76.0 +- 7.0 %" in card
    assert "the recipe `emodb-bcrnn-global` (`bcrnn reproduce emodb-bcrnn-global`), seed 4: its fold 0" in card
    assert "`global` (the training speakers' statistics" in card and "| size | 2 KB packed" in card
    one_fold = model_card(changed, ["anger"], {"n_runs": 1, "uar_mean": 0.5}, fold, None)
    assert "the same recipe over" not in one_fold and "`bcrnn train --dataset emodb --model bcrnn --preset tiny" in one_fold
