"""Descriptive statistics for repeats (pure): mean, spread, 95% intervals, paired differences.

Intervals use Student's t with n-1 degrees of freedom. With five seeds they describe the
spread of these runs; they are not a confirmatory test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

# Two-sided 95% critical values t_{0.975, df}.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
         18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("need at least 2 values for an interval")
    if df in _T975:
        return _T975[df]
    below = max(k for k in _T975 if k < df) if df < 120 else None
    return _T975[below] if below else 1.960  # conservative: the next smaller df's value


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: Optional[float]           # sample standard deviation (n-1)
    sem: Optional[float]           # standard error of the mean
    half_width: Optional[float]    # 95% interval: mean +- half_width

    @property
    def interval(self) -> Optional[tuple[float, float]]:
        return None if self.half_width is None else (self.mean - self.half_width, self.mean + self.half_width)


def summarize(values: Sequence[float]) -> Summary:
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n == 1:
        return Summary(1, mean, None, None, None)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    sem = std / math.sqrt(n)
    return Summary(n, mean, std, sem, t975(n - 1) * sem)


def paired_difference(candidate: dict[int, float], baseline: dict[int, float]) -> Summary:
    """Mean of candidate - baseline over the seeds both have, with its 95% half-width."""
    seeds = sorted(set(candidate) & set(baseline))
    if not seeds:
        raise ValueError("no matched seeds between candidate and baseline")
    return summarize([candidate[s] - baseline[s] for s in seeds])
