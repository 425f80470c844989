import numpy as np
import pytest

from bcrnn import metrics
from bcrnn.folds import speaker_folds

EMODB_SPEAKERS = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]


def test_ten_speaker_folds_are_speaker_independent():
    folds = speaker_folds(EMODB_SPEAKERS)
    assert len(folds) == 10
    for f in folds:
        roles = [{f.test}, {f.validation}, set(f.train)]
        assert f.test != f.validation
        assert not (roles[0] & roles[2]) and not (roles[1] & roles[2])
        assert roles[0] | roles[1] | roles[2] == set(EMODB_SPEAKERS)
    assert sorted(f.test for f in folds) == EMODB_SPEAKERS  # every speaker is tested exactly once
    assert (folds[0].test, folds[0].validation) == ("03", "08")


def test_fold_count_is_checked():
    assert len(speaker_folds(EMODB_SPEAKERS, 3)) == 3
    with pytest.raises(ValueError, match="between 1 and"):
        speaker_folds(EMODB_SPEAKERS, 11)
    with pytest.raises(ValueError, match="at least 3 speakers"):
        speaker_folds(["a", "b"])


def test_uar_is_mean_recall_and_wa_is_accuracy():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 0, 2, 2]
    conf = metrics.confusion(y_true, y_pred, 3)
    assert conf.tolist() == [[3, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert metrics.uar(conf) == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert metrics.wa(conf) == pytest.approx(6 / 8)


def test_absent_class_is_ignored_not_counted_as_zero():
    conf = metrics.confusion([0, 0, 1], [0, 1, 1], 3)
    assert np.isnan(metrics.per_class_recall(conf)[2])
    assert metrics.uar(conf) == pytest.approx((0.5 + 1.0) / 2)
