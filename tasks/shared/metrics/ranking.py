"""ROC-AUC (FLamby Fed-Camelyon16).

FLamby's metric is scikit-learn's `roc_auc_score` on the model's raw logits, per center, averaged
over centers (the profile's `per_client_mean`). AUC depends only on the order of the scores, so
logits or probabilities give the same value. Computed with average ranks (Mann-Whitney U): a tie
between a positive and a negative counts one half, exactly as the trapezoidal ROC area does.
"""
from __future__ import annotations

import numpy as np

from afr_box.tasks.shared.metrics.checks import column, same_length


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve of `scores` ((n,) or (n, 1)) for 0/1 labels `y_true`."""
    y = column(y_true, "y_true")
    s = column(scores, "predictions").astype(np.float64)
    same_length(y, s)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true: expected labels 0 or 1")
    positive = y == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs both classes in y_true (a site with only positive or only negative samples)")
    rank_sum = average_ranks(s)[positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
