"""Harrell's concordance index (FLamby Fed-TCGA-BRCA).

FLamby's `metric(y_true, pred)` calls `lifelines.utils.concordance_index(T, -pred, E)`: the model
outputs a RISK score (log hazard: higher = earlier event), and lifelines expects a score that
grows with survival time, hence the minus sign. Here the prediction is that risk (the model's raw
output) and the sign flip happens below, so a perfect risk ranking scores 1.

Pairs follow lifelines' definition exactly: (i, j) is comparable when i had the event (E_i = 1)
and either T_i < T_j, or T_i == T_j and j is censored; it is concordant when risk_i > risk_j, and
a tie in risk counts one half. Two events at the same time are not compared. No comparable pair
-> ValueError (lifelines raises ZeroDivisionError).
"""
from __future__ import annotations

import numpy as np

from afr_box.tasks.shared.metrics.checks import column, numeric_array, same_length


def concordance_index(time, risk, event) -> float:
    """C-index of `risk` (higher = earlier event) against observed times and event flags."""
    time, risk, event = (np.asarray(a, dtype=np.float64) for a in (time, risk, event))
    earlier = time[:, None] < time[None, :]
    tied_censored = (time[:, None] == time[None, :]) & (event[None, :] == 0)
    comparable = (event[:, None] == 1) & (earlier | tied_censored)
    pairs = int(comparable.sum())
    if pairs == 0:
        raise ValueError("no comparable pair (needs an event before another time): the C-index is undefined")
    concordant = (risk[:, None] > risk[None, :]) & comparable
    tied = (risk[:, None] == risk[None, :]) & comparable
    return float((concordant.sum() + 0.5 * tied.sum()) / pairs)


def c_index(y_true, y_pred) -> float:
    """y_true: (n, 2) float array of (event 0/1, time); y_pred: risk scores, shape (n,) or (n, 1)."""
    y = numeric_array(y_true, "y_true")
    if y.ndim != 2 or y.shape[1] != 2:
        raise ValueError(f"y_true: expected shape (n, 2) holding (event, time), got {y.shape}")
    risk = column(y_pred, "predictions")
    same_length(y, risk)
    if not np.isin(y[:, 0], (0, 1)).all():
        raise ValueError("y_true: the event column (first) must be 0 or 1")
    return concordance_index(y[:, 1], risk, y[:, 0])
