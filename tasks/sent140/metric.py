"""LEAF Sent140 metric (fixed code): sentiment accuracy, argmax over the two class scores
(LEAF's stacked_lstm counts argmax(pred) == label)."""
from __future__ import annotations

import numpy as np

from afr_box.tasks.metrics import accuracy_multiclass


def score(y_true, y_pred) -> float:
    """y_true: 0/1 labels (n,); y_pred: scores of the two classes, shape (n, 2)."""
    shape = np.shape(y_pred)
    if len(shape) != 2 or shape[1] != 2:
        raise ValueError(f"predictions: expected two class scores per tweet, shape (n, 2), got {shape}")
    return accuracy_multiclass(y_true, y_pred)
