"""Input checks shared by the metrics: predictions come from untrusted code."""
from __future__ import annotations

import numpy as np

NUMERIC = "biuf"   # bool, signed/unsigned int, float: no object, string or complex arrays


def numeric_array(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in NUMERIC:
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name}: is empty")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return arr


def column(values, name: str) -> np.ndarray:
    """Accept shape (n,) or (n, 1), as models with one output give either."""
    arr = numeric_array(values, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected shape (n,) or (n, 1), got {arr.shape}")
    return arr


def same_length(y_true: np.ndarray, pred: np.ndarray) -> None:
    if len(y_true) != len(pred):
        raise ValueError(f"predictions have {len(pred)} rows, expected {len(y_true)} (one per test sample)")


def class_scores(values, n: int, classes, name: str = "predictions") -> np.ndarray:
    """(n, C) class scores, C >= 2 and C == `classes` when the profile names the class count."""
    s = numeric_array(values, name)
    if s.ndim != 2 or s.shape[1] < 2 or (classes is not None and s.shape[1] != classes):
        want = f"(n, {classes})" if classes is not None else "(n, C) with C >= 2"
        raise ValueError(f"{name}: expected class scores of shape {want}, got {s.shape}")
    if len(s) != n:
        raise ValueError(f"predictions have {len(s)} rows, expected {n} (one per test sample)")
    return s


def class_labels(values, classes: int) -> np.ndarray:
    y = column(values, "y_true")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y_true: expected integer class labels, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= classes:
        raise ValueError(f"y_true: labels must lie in [0, {classes}) for {classes} class scores")
    return y
