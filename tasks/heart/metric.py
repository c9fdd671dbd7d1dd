"""Fed-Heart-Disease metric (fixed code): accuracy of sigmoid outputs at threshold 0.5, as FLamby."""
from __future__ import annotations

from afr_box.tasks.metrics import accuracy_binary


def score(y_true, y_pred) -> float:
    """y_true: 0/1 labels; y_pred: probabilities, shape (n,) or (n, 1)."""
    return accuracy_binary(y_true, y_pred)
