"""LEAF FEMNIST metric (fixed code): accuracy of the argmax over the 62 class scores."""
from __future__ import annotations

from afr_box.tasks.metrics import accuracy_multiclass

NUM_CLASSES = 62


def score(y_true, y_pred) -> float:
    """y_true: int labels in [0, 62); y_pred: class scores (logits or probabilities), shape (n, 62)."""
    shape = getattr(y_pred, "shape", None)
    if shape is not None and (len(shape) != 2 or shape[1] != NUM_CLASSES):
        raise ValueError(f"predictions: expected class scores of shape (n, {NUM_CLASSES}), got {tuple(shape)}")
    return accuracy_multiclass(y_true, y_pred)
