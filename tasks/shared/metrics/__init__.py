"""The metric registry of the trusted scorer (fixed code, numpy only).

A profile names its metric (`metric.name`, plus `classes` where the predictions are class
scores); the scorer looks it up here, so a task has no metric file of its own. Predictions come
from untrusted candidate code: every metric checks its inputs (numeric dtype, shape, length,
finite values) and raises ValueError saying what was expected, which the scorer records as a
refusal instead of a score.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from afr_box.tasks.shared.metrics.classification import accuracy, balanced_accuracy, binary_accuracy
from afr_box.tasks.shared.metrics.language import token_accuracy
from afr_box.tasks.shared.metrics.ranking import roc_auc
from afr_box.tasks.shared.metrics.segmentation import dice
from afr_box.tasks.shared.metrics.survival import c_index

Metric = Callable[..., float]

# name -> (function, what its predictions are); `classes` is passed to the metrics that take it.
METRICS: dict[str, Metric] = {
    "binary_accuracy": binary_accuracy,      # FLamby Fed-Heart-Disease
    "accuracy": accuracy,                    # LEAF: argmax over class scores
    "balanced_accuracy": balanced_accuracy,  # FLamby Fed-ISIC2019
    "roc_auc": roc_auc,                      # FLamby Fed-Camelyon16
    "c_index": c_index,                      # FLamby Fed-TCGA-BRCA
    "dice": dice,                            # FLamby Fed-IXI
    "token_accuracy": token_accuracy,        # LEAF Reddit
}
TAKES_CLASSES = frozenset({"accuracy", "balanced_accuracy"})


def metric_names() -> list[str]:
    return sorted(METRICS)


def compute(name: str, y_true: np.ndarray, y_pred: np.ndarray, classes: Optional[int] = None) -> float:
    """The metric `name` of predictions against labels (ValueError when they cannot be scored)."""
    try:
        fn = METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r} (known: {', '.join(metric_names())})") from None
    return float(fn(y_true, y_pred, classes=classes) if name in TAKES_CLASSES else fn(y_true, y_pred))
