"""Scorer metrics: hand-computed values and rejection of malformed predictions."""
from __future__ import annotations

import numpy as np
import pytest

from afr_box.tasks import metrics
from afr_box.tasks.heart.metric import score as heart_score
from afr_box.tasks.synthetic.metric import score as synthetic_score


def test_accuracy_binary_hand_computed():
    y = np.array([1, 0, 1, 0], dtype=np.float32)
    # 0.5 is not > 0.5, so it predicts 0 (FLamby's threshold): right, wrong, wrong, right.
    p = np.array([0.9, 0.7, 0.5, 0.1], dtype=np.float32)
    assert metrics.accuracy_binary(y, p) == 0.5
    assert heart_score(y, p[:, None]) == 0.5          # (n, 1) model outputs are accepted


def test_accuracy_multiclass_hand_computed():
    y = np.array([0, 2, 1], dtype=np.int64)
    s = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 5.0], [2.0, 1.0, 0.0]])
    assert metrics.accuracy_multiclass(y, s) == pytest.approx(2 / 3)
    assert synthetic_score(y, s) == pytest.approx(2 / 3)


@pytest.mark.parametrize("bad, message", [
    (np.array([0.2, np.nan, 0.7, 0.1]), "NaN"),
    (np.array([0.2, np.inf, 0.7, 0.1]), "NaN or infinite"),
    (np.array([0.2, 0.7, 0.1]), "3 rows, expected 4"),
    (np.array(["0.2", "0.3", "0.7", "0.1"]), "numeric"),
    (np.array([0.2, 0.3, 0.7, 0.1], dtype=object), "numeric"),
    (np.array([0.2, 1.3, 0.7, 0.1]), r"\[0, 1\]"),
    (np.zeros((4, 2)), "shape"),
])
def test_binary_rejects_malformed(bad, message):
    with pytest.raises(ValueError, match=message):
        metrics.accuracy_binary(np.array([1, 0, 1, 0]), bad)


@pytest.mark.parametrize("bad, message", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.zeros((3, 2)), "3 rows, expected 2"),
    (np.zeros(2), "shape"),
    (np.zeros((2, 2), dtype=complex), "numeric"),
])
def test_multiclass_rejects_malformed(bad, message):
    with pytest.raises(ValueError, match=message):
        metrics.accuracy_multiclass(np.array([0, 1]), bad)


def test_multiclass_rejects_labels_outside_scores():
    with pytest.raises(ValueError, match="labels must lie"):
        metrics.accuracy_multiclass(np.array([0, 3]), np.zeros((2, 3)))
