"""The plateau watchdog: when the search stalls, the agent must go to the literature.

Counted on the run log alone (so a resumed campaign and the external mode agree): scored,
non-failed candidates since the last improvement (a `keep` row: it beat the best by more
than the review's delta, with `min_delta: auto` the noise floor, so a gain inside the noise
counts as no material gain) or since the last literature event, whichever is later.
Crashes, rejections and violations do not count: they say nothing about a plateau. A proposal
that failed in literature mode resets the count as a literature row does, so a literature
attempt that keeps failing (a web search error) does not turn every later candidate into one.
"""
from __future__ import annotations

from dataclasses import dataclass

from afr_box.orchestrator.records.runlog import LITERATURE_FAILED, Row
from afr_box.orchestrator.records.status import Status


@dataclass(frozen=True)
class PlateauState:
    since_progress: int     # scored candidates since the last keep or literature row
    threshold: int          # 0 = watchdog off
    fired: bool

    def describe(self) -> str:
        if self.threshold <= 0:
            return "plateau watchdog off (plateau_threshold 0)"
        head = f"{self.since_progress} scored candidate(s) without improvement (threshold {self.threshold})"
        return head + (": PLATEAU, switch to literature mode" if self.fired else "")


def plateau_state(rows: list[Row], threshold: int) -> PlateauState:
    since = 0
    for row in rows:
        if (row.status in (Status.KEEP, Status.LITERATURE) or row.proposer == "baseline"
                or (row.status == Status.CRASH and row.reason.startswith(LITERATURE_FAILED))):
            since = 0
        elif row.status == Status.DISCARD and row.scored:
            since += 1
    return PlateauState(since, threshold, threshold > 0 and since >= threshold)
