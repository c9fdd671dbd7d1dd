"""The keep/discard decision: a pure function so the campaign loop and replay agree on it."""
from __future__ import annotations

import math
from typing import Optional


def review(score: float, best_score: Optional[float], higher_is_better: bool,
           min_delta: float) -> str:
    """"keep" when there is no incumbent or `score` beats it by MORE than `min_delta`.

    An improvement exactly equal to `min_delta` is a discard. "Equal" is judged with a
    tiny tolerance, because 0.81 - 0.80 is 0.010000000000000009 in binary floats and must
    not slip past a 0.01 threshold. A non-finite score is never kept.
    """
    if min_delta < 0:
        raise ValueError(f"min_delta must be >= 0, got {min_delta}")
    if score is None or not math.isfinite(score):
        return "discard"
    if best_score is None:
        return "keep"
    gain = score - best_score if higher_is_better else best_score - score
    if gain > min_delta and not math.isclose(gain, min_delta, rel_tol=1e-9, abs_tol=1e-12):
        return "keep"
    return "discard"
