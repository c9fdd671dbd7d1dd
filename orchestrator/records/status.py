"""Row statuses: the one place their names are spelt."""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    CANDIDATE = "candidate"    # logged, not yet reviewed (the AFR reference's value)
    KEEP = "keep"              # beat the best by more than the review delta (the baseline is kept)
    DISCARD = "discard"        # scored, no material gain
    CRASH = "crash"            # did not finish: timeout, out of memory, failed run, an agent with no candidate
    REJECTED = "rejected"      # refused by the gate before any build
    VIOLATION = "violation"    # broke a rule: budget, outputs, stray processes, verification
    LITERATURE = "literature"  # a non-scored literature event with its sources
    SCORED = "scored"          # an evaluation's outcome before review: never a results.tsv status


ROW_STATUSES = tuple(s for s in Status if s is not Status.SCORED)
# Rows that never produced a trustworthy score, whatever their score column says.
FAILED = frozenset({Status.CRASH, Status.REJECTED, Status.VIOLATION})
