"""The noise floor and the keep rule built on it (pure): 2 x the baseline's seed standard deviation,
named in the row's reason; and the plateau watchdog counts 'no material gain' with the same delta."""
from __future__ import annotations

import pytest

from afr_box.orchestrator.pipeline.noise import noise_floor, review_delta
from afr_box.orchestrator.pipeline.review import review, review_reason
from afr_box.orchestrator.pipeline.watchdog import plateau_state
from afr_box.orchestrator.records.runlog import Row
from afr_box.orchestrator.records.status import Status


def test_floor_is_twice_the_sample_std():
    floor = noise_floor({42: 0.8352, 43: 0.8402, 44: 0.8484})
    assert floor.seeds == [42, 43, 44] and floor.mean == pytest.approx(0.841266, abs=1e-6)
    assert floor.std == pytest.approx(0.0066643, abs=1e-6) and floor.delta == pytest.approx(2 * floor.std)
    assert "2 x the baseline's seed standard deviation" in floor.rule


def test_a_seed_invariant_baseline_has_floor_zero_and_missing_scores_are_left_out():
    assert noise_floor({42: 0.7304, 43: 0.7304, 44: 0.7304}).delta == 0.0
    one = noise_floor({42: 0.7, 43: None, 44: float("nan")})
    assert one.seeds == [42] and one.std is None and one.delta is None


def test_review_delta_and_its_name():
    floor = noise_floor({42: 0.8352, 43: 0.8402, 44: 0.8484})
    delta, text = review_delta("auto", floor)
    assert delta == floor.delta and text.startswith("noise floor 0.0133 = 2 x baseline std 0.0067 over 3 seeds")
    assert review_delta("auto", None) == (0.0, "noise floor not measured (0)")
    assert review_delta(0.01, floor) == (0.01, "min_delta 0.01")


def test_a_gain_inside_the_noise_is_discarded_naming_the_floor():
    floor = noise_floor({42: 0.8352, 43: 0.8402, 44: 0.8484})
    delta, text = review_delta("auto", floor)
    status = review(0.8450, 0.8352, True, delta)          # +0.0098 < 0.0133
    assert status == Status.DISCARD
    reason = review_reason(0.8450, 0.8352, True, status, text)
    assert reason == "vs best 0.8352: gain +0.0098 within the noise floor 0.0133 = 2 x baseline std 0.0067 over 3 seeds"
    status = review(0.8500, 0.8352, True, delta)          # +0.0148 > 0.0133
    assert status == Status.KEEP and "gain +0.0148 > noise floor 0.0133" in review_reason(0.85, 0.8352, True, status,
                                                                                        text)
    assert review_reason(0.80, 0.8352, True, Status.DISCARD, text) == "vs best 0.8352: no gain (-0.0352)"
    assert review_reason(0.20, 0.25, False, Status.KEEP, "min_delta 0") == "vs best 0.2500: gain +0.0500 > min_delta 0"


def row(cand: str, status: Status, score, proposer="optuna") -> Row:
    return Row(commit="0" * 12, score=score, runtime_seconds=1, budget="b", status=status, target="t", description="d",
               artifacts=f"candidates/{cand}", candidate=cand, image_id="", surface_hash="", policy="p", seed=42,
               proposer=proposer)


def test_plateau_counts_gains_inside_the_floor_as_no_material_gain():
    # a gain within the floor is a discard, so the watchdog counts it like no gain at all
    rows = [row("0000", Status.KEEP, 0.83, "baseline"), row("0001", Status.DISCARD, 0.84), row("0002", Status.KEEP, 0.9),
            row("0003", Status.DISCARD, 0.905), row("0004", Status.DISCARD, 0.5)]
    assert plateau_state(rows, 2).since_progress == 2 and plateau_state(rows, 2).fired
