"""Next-token accuracy as LEAF's Reddit stacked LSTM reports it.

A position counts when its target is not padding (y != -1); a prediction is right when it equals
the target and is neither the unknown (1) nor the padding (0) token: LEAF counts every prediction
of either as wrong. Accuracy = right / counted positions.
"""
from __future__ import annotations

import numpy as np

PAD, UNK, NOT_COUNTED = 0, 1, -1


def token_accuracy(y_true, y_pred) -> float:
    """y_true: target ids (n, seq), -1 where not counted; y_pred: predicted token ids (n, seq), integers."""
    y = np.asarray(y_true)
    p = np.asarray(y_pred)
    if y.dtype.kind not in "iu" or y.ndim != 2:
        raise ValueError(f"y_true: expected integer target ids of shape (n, seq), got {y.dtype} {y.shape}")
    if p.dtype.kind not in "iu":
        raise ValueError(f"predictions: expected integer token ids (the argmax), got dtype {p.dtype}")
    if p.shape != y.shape:
        raise ValueError(f"predictions: expected token ids of shape {y.shape}, got {p.shape}")
    counted = y != NOT_COUNTED
    if not counted.any():
        raise ValueError("y_true: no counted token positions")
    right = (p == y) & counted & (p != PAD) & (p != UNK)
    return float(right.sum() / counted.sum())
