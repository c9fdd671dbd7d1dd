"""LEAF CelebA metric (fixed code): accuracy of the argmax over the 2 class scores (smiling)."""
from __future__ import annotations

from afr_box.tasks.metrics import accuracy_multiclass

NUM_CLASSES = 2


def score(y_true, y_pred) -> float:
    """y_true: int labels 0/1 (not smiling / smiling); y_pred: class scores, shape (n, 2)."""
    shape = getattr(y_pred, "shape", None)
    if shape is not None and (len(shape) != 2 or shape[1] != NUM_CLASSES):
        raise ValueError(f"predictions: expected class scores of shape (n, {NUM_CLASSES}), got {tuple(shape)}")
    return accuracy_multiclass(y_true, y_pred)
