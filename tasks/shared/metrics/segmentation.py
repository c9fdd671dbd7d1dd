"""Soft Dice (FLamby Fed-IXI).

FLamby's `fed_ixi/metric.py` takes the model's softmax output (n, 2, D, H, W) and the one-hot mask,
computes per volume and channel sum(p * g) / (0.5 * sum(p + g)) (+1e-7; 1 where both are empty)
without thresholding, and averages over volumes and the two channels (background and brain). Here
predictions are the brain probability only (the task's predict step): the background channel is
1 - p and 1 - y, which gives the same value.
"""
from __future__ import annotations

import numpy as np

from afr_box.tasks.shared.metrics.checks import numeric_array

EPS = 1e-7


def dice(y_true, y_pred) -> float:
    """y_true: (n, D, H, W) 0/1 brain masks; y_pred: (n, D, H, W) brain probabilities in [0, 1]."""
    y = numeric_array(y_true, "y_true")
    p = numeric_array(y_pred, "predictions")
    if y.ndim != 4:
        raise ValueError(f"y_true: expected masks of shape (n, D, H, W), got {y.shape}")
    if p.shape != y.shape:
        raise ValueError(f"predictions: expected brain probabilities of shape {y.shape}, got {p.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true: expected 0/1 masks")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("predictions: expected probabilities in [0, 1] (softmax or sigmoid outputs)")
    g = y.astype(np.float64).reshape(len(y), -1)
    fg = p.astype(np.float64).reshape(len(p), -1)
    scores = []
    for pc, gc in ((fg, g), (1.0 - fg, 1.0 - g)):
        intersection = (pc * gc).sum(axis=1)
        union = 0.5 * (pc + gc).sum(axis=1)
        d = intersection / (union + EPS)
        d[union == 0] = 1.0
        scores.append(d)
    return float(np.mean(np.stack(scores, axis=1)))
