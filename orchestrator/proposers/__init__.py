"""Proposers turn a candidate index into a surface snapshot + description.

Each is deterministic in (campaign seed, index), so `--resume` regenerates exactly the
proposals that were not logged yet.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Protocol

from afr_box.orchestrator.errors import ProposerError
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.records.runlog import Row


class Proposer(Protocol):
    name: str

    def propose(self, index: int, workspace: Path, history: list[Row]) -> Proposal:
        """Write the snapshot for candidate `index` under `workspace` and describe it."""


class ProposalFailed(Exception):
    """An agent produced no candidate this time (the campaign logs a crash row and goes on);
    `usage` says what it cost."""

    def __init__(self, reason: str, usage):
        super().__init__(reason)
        self.usage = usage


PROPOSERS = ("hpo", "baseline", "snapshots", "claude")


def make_proposer(name: str, task: str, policy, profile, seed: int, snapshots: Optional[Path] = None,
                  agent=None) -> "Proposer":
    """`agent`: ClaudeOptions for --proposer claude (defaults when None)."""
    from afr_box.orchestrator.proposers.baseline import BaselineProposer
    from afr_box.orchestrator.proposers.hpo import HpoProposer
    from afr_box.orchestrator.proposers.snapshots import SnapshotsProposer

    if name == "hpo":
        return HpoProposer(task, policy, profile, seed)
    if name == "baseline":
        return BaselineProposer(task, policy)
    if name == "snapshots":
        if snapshots is None:
            raise ProposerError("--proposer snapshots needs --snapshots DIR (a folder of DIR/<name>/surface/... "
                                "snapshots, replayed in name order)")
        return SnapshotsProposer(snapshots)
    if name == "claude":
        from afr_box.orchestrator.proposers.agent.claude import ClaudeOptions, ClaudeProposer

        return ClaudeProposer(task, policy, profile, agent or ClaudeOptions())
    raise ProposerError(f"unknown proposer {name!r}; available: {', '.join(PROPOSERS)}")
