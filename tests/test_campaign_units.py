"""Campaign decisions that need no engine."""
from __future__ import annotations

from concurrent.futures import Future

from afr_box.orchestrator.campaign.loop import _outcome_of
from afr_box.orchestrator.pipeline.evaluate import Outcome


def test_an_evaluation_that_raises_becomes_a_crash_row_not_a_dead_campaign():
    future: Future = Future()
    future.set_exception(OSError("No space left on device"))
    outcome = _outcome_of(future, "0004")
    assert outcome.status == "crash" and outcome.cand == "0004"
    assert "OSError: No space left on device" in outcome.reason


def test_a_finished_evaluation_passes_through():
    future: Future = Future()
    done = Outcome(cand="0001", status="scored", score=0.7)
    future.set_result(done)
    assert _outcome_of(future, "0001") is done
