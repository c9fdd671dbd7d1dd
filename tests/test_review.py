"""The keep/discard rule: strictly more than min_delta, in the metric's direction."""
import math

import pytest

from afr_box.orchestrator.pipeline.review import review


def test_no_incumbent_keeps():
    assert review(0.1, None, True, 0.0) == "keep"
    assert review(5.0, None, False, 1.0) == "keep"


@pytest.mark.parametrize("score, best, higher, expected", [
    (0.8, 0.7, True, "keep"), (0.6, 0.7, True, "discard"), (0.7, 0.7, True, "discard"),
    (0.6, 0.7, False, "keep"), (0.8, 0.7, False, "discard"), (0.7, 0.7, False, "discard"),
])
def test_direction(score, best, higher, expected):
    assert review(score, best, higher, 0.0) == expected


@pytest.mark.parametrize("higher, score", [(True, 0.75), (False, 0.25)])
def test_min_delta_boundary_exact(higher, score):
    # gain is exactly 0.25 (binary-exact values): equal-to-delta is a discard.
    assert review(score, 0.5, higher, 0.25) == "discard"
    assert review(score + (0.001 if higher else -0.001), 0.5, higher, 0.25) == "keep"


def test_min_delta_boundary_float_noise():
    # 0.81 - 0.80 == 0.010000000000000009 in floats; still "equal to delta".
    assert review(0.81, 0.80, True, 0.01) == "discard"
    assert review(0.79, 0.80, False, 0.01) == "discard"
    assert review(0.8101, 0.80, True, 0.01) == "keep"


def test_non_finite_and_bad_delta():
    assert review(math.nan, None, True, 0.0) == "discard"
    assert review(math.inf, 0.5, True, 0.0) == "discard"
    with pytest.raises(ValueError):
        review(0.5, 0.4, True, -0.1)
