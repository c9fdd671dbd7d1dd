"""What a repeated candidate is, in the paper's terms (pure: the finish step and its tests use it).

From the paired differences to the baseline over matched seeds (95% Student's t intervals):

    selected artifact            the repeat mean on the evaluation set is not above the baseline's
                                 (the campaign's single-run gain was selection from noise)
    seed-sensitive               above it on average, but the paired interval includes 0
    held-out false positive      the evaluation-set interval excludes 0, the held-out mean gain is <= 0
    repeated gain, held-out inconclusive   ... the held-out mean gain is > 0 but its interval includes 0
    robust repeated gain         the evaluation-set interval excludes 0 and the held-out gain survives
                                 (its interval excludes 0 too; without a held-out part: said so)
    + recovered by scalar control   a robust gain that a named control campaign of the same task
                                 reaches: the paired difference to the control's best repeated
                                 candidate (same seeds, same split) is not above 0 beyond its interval

Gains are in the metric's direction (a lower-is-better metric gains when it falls).
"""
from __future__ import annotations

from typing import Optional

from afr_box.reports.stats import Summary, paired_difference

BASELINE = "baseline"
ROBUST = "robust repeated gain"
SEED_SENSITIVE = "seed-sensitive"
ARTIFACT = "selected artifact"
HELDOUT_FALSE_POSITIVE = "held-out false positive"
HELDOUT_INCONCLUSIVE = "repeated gain, held-out inconclusive"
RECOVERED = "recovered by scalar control"
NOT_REPEATED = "not repeated (no matched seeds)"


def gain(d: Summary, higher_is_better: bool) -> float:
    return d.mean if higher_is_better else -d.mean


def paired(candidate: dict[int, float], baseline: dict[int, float]) -> Optional[Summary]:
    try:
        return paired_difference(candidate, baseline)
    except ValueError:
        return None


def label(evaluation: Optional[Summary], heldout: Optional[Summary], higher_is_better: bool,
          has_heldout: bool) -> str:
    """The label of a candidate from its paired differences to the baseline (see the module doc)."""
    if evaluation is None:
        return NOT_REPEATED
    if gain(evaluation, higher_is_better) <= 0:
        return ARTIFACT
    if not evaluation.excludes_zero():
        return SEED_SENSITIVE
    if not has_heldout:
        return f"{ROBUST} (no held-out part)"
    if heldout is None:
        return HELDOUT_INCONCLUSIVE
    if gain(heldout, higher_is_better) <= 0:
        return HELDOUT_FALSE_POSITIVE
    return ROBUST if heldout.excludes_zero() else HELDOUT_INCONCLUSIVE


def recovered(candidate: dict[int, float], control_best: dict[int, float], higher_is_better: bool) -> bool:
    """A control reaches the candidate when the candidate's paired gain over it is not clearly above 0."""
    d = paired(candidate, control_best)
    return d is not None and (gain(d, higher_is_better) <= 0 or not d.excludes_zero())
