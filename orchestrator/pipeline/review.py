"""Review: the keep/discard decision (a pure function, so the campaign loop, `try` and replay agree
on it), and logging a reviewed outcome as its results.tsv row."""
from __future__ import annotations

import math
from typing import Optional

from afr_box.orchestrator.pipeline.noise import campaign_noise, review_delta
from afr_box.orchestrator.records.models import CandidateRecord, save
from afr_box.orchestrator.records.runlog import Row
from afr_box.orchestrator.records.status import Status


def review(score: float, best_score: Optional[float], higher_is_better: bool,
           min_delta: float) -> Status:
    """"keep" when there is no incumbent or `score` beats it by MORE than `min_delta`.

    An improvement exactly equal to `min_delta` is a discard. "Equal" is judged with a
    tiny tolerance, because 0.81 - 0.80 is 0.010000000000000009 in binary floats and must
    not slip past a 0.01 threshold. A non-finite score is never kept.
    """
    if min_delta < 0:
        raise ValueError(f"min_delta must be >= 0, got {min_delta}")
    if score is None or not math.isfinite(score):
        return Status.DISCARD
    if best_score is None:
        return Status.KEEP
    gain = score - best_score if higher_is_better else best_score - score
    if gain > min_delta and not math.isclose(gain, min_delta, rel_tol=1e-9, abs_tol=1e-12):
        return Status.KEEP
    return Status.DISCARD


def review_reason(score: float, best: Optional[float], higher_is_better: bool, status: Status, floor: str) -> str:
    """Why a scored candidate was kept or discarded, naming the delta it was judged against."""
    if best is None:
        return ""
    gain = score - best if higher_is_better else best - score
    if status == Status.KEEP:
        return f"vs best {best:.4f}: gain {gain:+.4f} > {floor}"
    if gain > 0:
        return f"vs best {best:.4f}: gain {gain:+.4f} within the {floor}"
    return f"vs best {best:.4f}: no gain ({gain:+.4f})"


def budget_text(profile) -> str:
    """The results.tsv `budget` cell of a profile."""
    b = profile.budget
    return f"rounds={b.rounds} clients={b.clients} steps<={b.local_steps.max}"


def log_outcome(setup, runlog, outcome, proposal, is_baseline: bool):
    """Review a finished candidate and log its row: record.json first, then the row, so a logged
    row always has a complete record. Used by the campaign loop, `afr-box try` and the attack suite."""
    status, reason = outcome.status, outcome.reason
    higher = setup.profile.metric.higher_is_better
    if status == Status.SCORED and is_baseline:
        status, reason = Status.KEEP, "baseline"
    elif status == Status.SCORED:
        best = runlog.best(higher)
        delta, floor = review_delta(setup.profile.min_delta, campaign_noise(setup.folder))
        status = review(outcome.score, best.score if best else None, higher, delta)
        reason = review_reason(outcome.score, best.score if best else None, higher, status, floor)
    row = Row(commit=outcome.surface_hash[:12], score=outcome.score if outcome.status == Status.SCORED else None,
              runtime_seconds=outcome.runtime_s, budget=budget_text(setup.profile), status=status, target=setup.task,
              description=proposal.description, artifacts=f"candidates/{outcome.cand}", candidate=outcome.cand,
              image_id=outcome.image_id, surface_hash=outcome.surface_hash, policy=setup.policy.name,
              seed=setup.profile.budget.seed if outcome.seed is None else outcome.seed, proposer=proposal.proposer,
              reason=reason)
    record = setup.folder.candidate(outcome.cand)
    record.path.mkdir(parents=True, exist_ok=True)
    optional = {"placement": outcome.placement, "agent": proposal.agent}
    save(CandidateRecord(**row.__dict__, timings=outcome.timings, **{k: v for k, v in optional.items() if v}),
         record.record)
    return runlog.append(row)
