"""Repeat statistics against hand-computed values."""
from __future__ import annotations

import pytest

from afr_box.reports.stats import paired_difference, summarize, t975


def test_summary_of_five_seeds():
    s = summarize([0.70, 0.72, 0.74, 0.71, 0.73])
    assert s.mean == pytest.approx(0.72)
    # deviations -0.02 0 0.02 -0.01 0.01 -> sum of squares 0.001, /4 -> var 0.00025
    assert s.std == pytest.approx(0.0158114, abs=1e-6)
    assert s.sem == pytest.approx(0.0158114 / 5 ** 0.5, abs=1e-6)
    assert s.half_width == pytest.approx(2.776 * 0.0070711, abs=1e-5)
    lo, hi = s.interval
    assert lo < 0.72 < hi


def test_single_value_has_no_interval():
    s = summarize([0.5])
    assert s.mean == 0.5 and s.std is None and s.interval is None


def test_paired_difference_uses_matched_seeds_only():
    cand = {42: 0.75, 43: 0.74, 44: 0.76, 99: 0.10}
    base = {42: 0.73, 43: 0.73, 44: 0.73}
    d = paired_difference(cand, base)
    assert d.n == 3 and d.mean == pytest.approx((0.02 + 0.01 + 0.03) / 3)
    assert d.half_width == pytest.approx(4.303 * 0.01 / 3 ** 0.5, abs=1e-6)
    with pytest.raises(ValueError, match="matched seeds"):
        paired_difference({1: 0.5}, {2: 0.5})


def test_t_table():
    assert t975(4) == 2.776 and t975(22) == 2.086 and t975(1000) == 1.96
    with pytest.raises(ValueError):
        t975(0)
