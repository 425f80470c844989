"""The model that ships in the package: `bcrnn predict` works with no --model, and its golden vectors (real Emo-DB
segments, every layer boundary) are what the integer reference computes, so a build can be checked against them."""

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
