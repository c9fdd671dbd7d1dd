"""The baseline proposer: the untouched surface (always candidate 0 of a campaign)."""
from __future__ import annotations

from pathlib import Path

from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.gate.surface import baseline_snapshot


class BaselineProposer:
    name = "baseline"

    def __init__(self, task: str, policy):
        self.task, self.policy = task, policy

    def propose(self, index: int, workspace: Path, history=None) -> Proposal:
        snap = baseline_snapshot(self.task, self.policy, workspace / f"proposal-{index:04d}")
        return Proposal(snapshot=snap, description="baseline: untouched surface", proposer=self.name)
