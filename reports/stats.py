"""Descriptive statistics for repeats (pure): mean, spread, 95% intervals, paired differences.

Intervals use Student's t with n-1 degrees of freedom (scipy's t distribution, any df). With
five seeds they describe the spread of these runs; they are not a confirmatory test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from scipy import stats

LEVEL = 0.95


def t_critical(df: int, level: float = LEVEL) -> float:
    """Two-sided critical value of Student's t: P(|T| <= value) = level."""
    if df < 1:
        raise ValueError("need at least 2 values for an interval")
    return float(stats.t.ppf(0.5 + level / 2, df))


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

    def excludes_zero(self) -> bool:
        """The interval lies wholly on one side of 0 (a point interval counts when it is not 0)."""
        lo_hi = self.interval
        return lo_hi is not None and (lo_hi[0] > 0 or lo_hi[1] < 0)


def summarize(values: Sequence[float]) -> Summary:
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(1, mean, None, None, None)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    sem = std / math.sqrt(n)
    return Summary(n, mean, std, sem, t_critical(n - 1) * sem)


def paired_difference(candidate: dict[int, float], baseline: dict[int, float]) -> Summary:
    """Mean of candidate - baseline over the seeds both have, with its 95% half-width."""
    seeds = sorted(set(candidate) & set(baseline))
    if not seeds:
        raise ValueError("no matched seeds between candidate and baseline")
    return summarize([candidate[s] - baseline[s] for s in seeds])
