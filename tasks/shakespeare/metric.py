"""LEAF Shakespeare metric (fixed code): next-character accuracy, argmax over the 80 letters
(LEAF's stacked_lstm counts argmax(pred) == label)."""
from __future__ import annotations

import numpy as np

from afr_box.tasks.metrics import accuracy_multiclass

NUM_LETTERS = 80


def score(y_true, y_pred) -> float:
    """y_true: character ids (n,); y_pred: scores over the 80 characters, shape (n, 80)."""
    shape = np.shape(y_pred)
    if len(shape) != 2 or shape[1] != NUM_LETTERS:
        raise ValueError(f"predictions: expected scores over the {NUM_LETTERS} letters, shape (n, {NUM_LETTERS}), got {shape}")
    return accuracy_multiclass(y_true, y_pred)
