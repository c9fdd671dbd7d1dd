"""The baseline proposers: the untouched surface.

`baseline` proposes it as is (always candidate 0 of a campaign). `baseline-seeds` proposes it
again for every candidate with a seed of its own (the budget's seed + the candidate index): the
baseline-only control, where every "gain" a campaign selects is seed noise by construction.
"""
from __future__ import annotations

from pathlib import Path

from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.orchestrator.pipeline.proposal import Proposal


class BaselineProposer:
    name = "baseline"

    def __init__(self, task: str, policy):
        self.task, self.policy = task, policy

    def propose(self, index: int, workspace: Path, history=None) -> Proposal:
        snap = baseline_snapshot(self.task, self.policy, workspace / f"proposal-{index:04d}")
        return Proposal(snapshot=snap, description="baseline: untouched surface", proposer=self.name)


class ReseededBaselineProposer:
    name = "baseline-seeds"

    def __init__(self, task: str, policy, profile):
        self.task, self.policy, self.seed = task, policy, profile.budget.seed

    def propose(self, index: int, workspace: Path, history=None) -> Proposal:
        snap = baseline_snapshot(self.task, self.policy, workspace / f"proposal-{index:04d}")
        seed = self.seed + index
        return Proposal(snapshot=snap, description=f"baseline-seeds: untouched surface, seed {seed}",
                        proposer=self.name, seed=seed)
