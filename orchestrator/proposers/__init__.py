"""Proposers turn a candidate index into a surface snapshot + description.

Each is deterministic in (campaign seed, index), so `--resume` regenerates exactly the
proposals that were not logged yet.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Protocol

from afr_box.orchestrator.evaluate import Proposal
from afr_box.orchestrator.runlog import Row


class Proposer(Protocol):
    name: str

    def propose(self, index: int, workspace: Path, history: list[Row]) -> Proposal:
        """Write the snapshot for candidate `index` under `workspace` and describe it."""


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
            raise ValueError("the snapshots proposer needs --snapshots DIR")
        return SnapshotsProposer(snapshots)
    if name == "claude":
        from afr_box.orchestrator.proposers.claude import ClaudeOptions, ClaudeProposer

        return ClaudeProposer(task, policy, profile, agent or ClaudeOptions())
    raise ValueError(f"unknown proposer {name!r}; available: {', '.join(PROPOSERS)}")
