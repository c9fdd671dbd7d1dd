"""Classification metrics: FLamby's thresholded and balanced accuracies, LEAF's argmax accuracy."""
from __future__ import annotations

from typing import Optional

import numpy as np

from afr_box.tasks.shared.metrics.checks import class_labels, class_scores, column, same_length


def binary_accuracy(y_true, prob) -> float:
    """Share of samples where (prob > 0.5) equals the 0/1 label (FLamby Fed-Heart-Disease: sigmoid
    outputs at threshold 0.5). Predictions: probabilities, shape (n,) or (n, 1)."""
    y = column(y_true, "y_true")
    p = column(prob, "predictions")
    same_length(y, p)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true: expected labels 0 or 1")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("predictions: expected probabilities in [0, 1] (apply a sigmoid to logits)")
    return float(np.mean((p > 0.5) == (y == 1)))


def accuracy(y_true, scores, classes: Optional[int] = None) -> float:
    """Share of samples whose highest class score (ties: lowest class) is the label (LEAF's
    argmax(pred) == label). Predictions: class scores (logits or probabilities), (n, classes)."""
    n = len(np.asarray(y_true))
    s = class_scores(scores, n, classes)
    y = class_labels(y_true, s.shape[1])
    return float(np.mean(np.argmax(s, axis=1) == y))


def balanced_accuracy(y_true, scores, classes: Optional[int] = None) -> float:
    """Mean over the classes present in y_true of each class's recall of the argmax class (FLamby
    Fed-ISIC2019 = scikit-learn's balanced_accuracy_score: a class only predicted is left out)."""
    n = len(np.asarray(y_true))
    s = class_scores(scores, n, classes)
    y = class_labels(y_true, s.shape[1])
    predicted = np.argmax(s, axis=1)
    return float(np.mean([np.mean(predicted[y == c] == c) for c in np.unique(y)]))
