"""A robust y-range for the plots (pure): the region that matters stays readable when one
candidate diverged (femnist collapsing to 0.06 next to candidates around 0.64).

The range covers the `anchors` (the values a reader must see: baseline, kept rows, the running
best) and every other value inside Tukey's far fences (quartiles -/+ 3 IQR of all values); what
lies outside is drawn at the edge as a clipped marker by the caller.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional

FENCE = 3.0   # IQRs beyond the quartiles: Tukey's "far out"
PAD = 0.08    # of the span, above and below


def _quantile(sorted_values: list[float], q: float) -> float:
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def robust_range(values: Iterable[Optional[float]], anchors: Iterable[Optional[float]] = (),
                 y_min: Optional[float] = None, y_max: Optional[float] = None) -> Optional[tuple[float, float]]:
    """(low, high) for the axis, or None when there is nothing finite to show. `y_min`/`y_max`
    override either end (the report's --y-min/--y-max)."""
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    keep = [v for v in anchors if v is not None and math.isfinite(v)]
    if not finite and not keep:
        return None
    inside = finite
    if len(finite) >= 4:
        q1, q3 = _quantile(finite, 0.25), _quantile(finite, 0.75)
        spread = (q3 - q1) or max(abs(q3), 1e-12) * 0.01
        inside = [v for v in finite if q1 - FENCE * spread <= v <= q3 + FENCE * spread]
    shown = inside + keep
    lo, hi = min(shown), max(shown)
    span = (hi - lo) or max(abs(hi), 1e-3) * 0.05
    lo, hi = lo - PAD * span, hi + PAD * span
    lo = lo if y_min is None else y_min
    hi = hi if y_max is None else y_max
    if lo >= hi:
        hi = lo + max(abs(lo), 1e-3) * 0.05
    return lo, hi
