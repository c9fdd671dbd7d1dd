"""Repeat statistics against hand-computed values."""
from __future__ import annotations

import pytest

from afr_box.reports.stats import paired_difference, summarize, t_critical


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
    assert d.half_width == pytest.approx(4.302653 * 0.01 / 3 ** 0.5, abs=1e-6)
    with pytest.raises(ValueError, match="matched seeds"):
        paired_difference({1: 0.5}, {2: 0.5})


def test_t_quantiles_for_any_df():
    # scipy's t distribution, not a table: df 21-24 have their own values (a table used df 20's 2.086).
    assert t_critical(4) == pytest.approx(2.7764451, abs=1e-6)
    assert t_critical(22) == pytest.approx(2.0738731, abs=1e-6)
    assert t_critical(10 ** 6) == pytest.approx(1.959966, abs=1e-5)
    with pytest.raises(ValueError):
        t_critical(0)


def test_interval_excludes_zero():
    assert paired_difference({1: 0.8, 2: 0.8}, {1: 0.7, 2: 0.7}).excludes_zero()  # a point interval away from 0
    assert not paired_difference({1: 0.8, 2: 0.6}, {1: 0.7, 2: 0.7}).excludes_zero()
    assert not summarize([0.1]).excludes_zero()  # one value: no interval
