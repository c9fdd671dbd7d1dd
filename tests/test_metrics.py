"""Scorer metrics: hand-computed values and rejection of malformed predictions."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from afr_box.profiles.schema import load_profile
from afr_box.profiles.yaml_models import ConfigError
from afr_box.tasks.shared.metrics import compute
from afr_box.tasks.shared.metrics.classification import accuracy, binary_accuracy
from task_metric import task_metric

heart_score, synthetic_score = task_metric("heart"), task_metric("synthetic")


def test_binary_accuracy_hand_computed():
    y = np.array([1, 0, 1, 0], dtype=np.float32)
    # 0.5 is not > 0.5, so it predicts 0 (FLamby's threshold): right, wrong, wrong, right.
    p = np.array([0.9, 0.7, 0.5, 0.1], dtype=np.float32)
    assert binary_accuracy(y, p) == 0.5
    assert heart_score(y, p[:, None]) == 0.5          # (n, 1) model outputs are accepted


def test_accuracy_multiclass_hand_computed():
    y = np.array([0, 2, 1], dtype=np.int64)
    s = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 5.0], [2.0, 1.0, 0.0]])
    assert accuracy(y, s) == pytest.approx(2 / 3)
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
        binary_accuracy(np.array([1, 0, 1, 0]), bad)


@pytest.mark.parametrize("bad, message", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.zeros((3, 2)), "3 rows, expected 2"),
    (np.zeros(2), "shape"),
    (np.zeros((2, 2), dtype=complex), "numeric"),
])
def test_multiclass_rejects_malformed(bad, message):
    with pytest.raises(ValueError, match=message):
        accuracy(np.array([0, 1]), bad)


def test_multiclass_rejects_labels_outside_scores():
    with pytest.raises(ValueError, match="labels must lie"):
        accuracy(np.array([0, 3]), np.zeros((2, 3)))


def test_class_count_from_the_profile_is_enforced():
    y = np.array([0, 1])
    assert compute("accuracy", y, np.eye(2), classes=2) == 1.0
    with pytest.raises(ValueError, match=r"shape \(n, 62\)"):
        compute("accuracy", y, np.eye(2), classes=62)


def test_unknown_metric_is_refused_by_the_scorer_and_the_profile(tmp_path):
    with pytest.raises(ValueError, match="unknown metric 'auroc'"):
        compute("auroc", np.array([0, 1]), np.array([0.2, 0.8]))
    profile = tmp_path / "bad.yaml"
    text = (Path(__file__).resolve().parents[1] / "profiles" / "heart.yaml").read_text()
    profile.write_text(text.replace("name: binary_accuracy", "name: auroc"))
    with pytest.raises(ConfigError, match="unknown metric 'auroc'; the scorer knows: accuracy"):
        load_profile(profile)
