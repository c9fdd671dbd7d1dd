"""Metric functions of the trusted scorer (fixed code, numpy only).

Predictions come from untrusted candidate code, so every input is checked before use:
numeric dtype, expected shape, matching length, finite values. Anything else raises
ValueError with what was expected, and the scorer records a failure instead of a score.
"""
from __future__ import annotations

import numpy as np

_NUMERIC = "biuf"   # bool, signed/unsigned int, float: no object, string or complex arrays


def _array(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in _NUMERIC:
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name}: is empty")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return arr


def _column(values, name: str) -> np.ndarray:
    """Accept shape (n,) or (n, 1), as models with one output give either."""
    arr = _array(values, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected shape (n,) or (n, 1), got {arr.shape}")
    return arr


def _same_length(y_true: np.ndarray, pred: np.ndarray) -> None:
    if len(y_true) != len(pred):
        raise ValueError(f"predictions have {len(pred)} rows, expected {len(y_true)} (one per test sample)")


def accuracy_binary(y_true, prob) -> float:
    """Share of samples where (prob > 0.5) equals the 0/1 label (FLamby's threshold)."""
    y = _column(y_true, "y_true")
    p = _column(prob, "predictions")
    _same_length(y, p)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true: expected labels 0 or 1")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("predictions: expected probabilities in [0, 1] (apply a sigmoid to logits)")
    return float(np.mean((p > 0.5) == (y == 1)))


def accuracy_multiclass(y_true, scores) -> float:
    """Share of samples whose highest class score (ties: lowest class) is the label."""
    y = _column(y_true, "y_true")
    s = _array(scores, "predictions")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y_true: expected integer class labels, got dtype {y.dtype}")
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"predictions: expected class scores of shape (n, C) with C >= 2, got {s.shape}")
    _same_length(y, s)
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"y_true: labels must lie in [0, {s.shape[1]}) for {s.shape[1]} class scores")
    return float(np.mean(np.argmax(s, axis=1) == y))
