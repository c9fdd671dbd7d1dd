"""Fed-ISIC2019 metric (fixed code): balanced accuracy of the arg-max class, as FLamby.

FLamby's `fed_isic2019/metric.py` calls scikit-learn's `balanced_accuracy_score(y_true,
argmax(logits, 1))`: the mean over the classes present in y_true of each class's recall (a
class only predicted, never true, is left out).
"""
from __future__ import annotations

import numpy as np

from afr_box.tasks.metrics import _array, _column

NUM_CLASSES = 8


def score(y_true, y_pred) -> float:
    """y_true: (n,) integer labels 0..7; y_pred: (n, 8) class scores (logits or probabilities)."""
    y = _column(y_true, "y_true")
    s = _array(y_pred, "predictions")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y_true: expected integer class labels, got dtype {y.dtype}")
    if s.ndim != 2 or s.shape[1] != NUM_CLASSES:
        raise ValueError(f"predictions: expected class scores of shape (n, {NUM_CLASSES}), got {s.shape}")
    if len(s) != len(y):
        raise ValueError(f"predictions have {len(s)} rows, expected {len(y)} (one per test image)")
    if y.min() < 0 or y.max() >= NUM_CLASSES:
        raise ValueError(f"y_true: labels must lie in [0, {NUM_CLASSES})")
    predicted = np.argmax(s, axis=1)
    return float(np.mean([np.mean(predicted[y == c] == c) for c in np.unique(y)]))
