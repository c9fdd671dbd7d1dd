"""LEAF Synthetic metric (fixed code): accuracy of the argmax over class scores."""
from __future__ import annotations

from afr_box.tasks.metrics import accuracy_multiclass


def score(y_true, y_pred) -> float:
    """y_true: int class labels; y_pred: class scores (logits or probabilities), shape (n, C)."""
    return accuracy_multiclass(y_true, y_pred)
