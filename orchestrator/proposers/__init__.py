"""Proposers turn a candidate index into a surface snapshot + description.

Each is deterministic in (campaign seed, index), so `--resume` regenerates exactly the
proposals that were not logged yet.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from afr_box.orchestrator.evaluate import Proposal
from afr_box.orchestrator.runlog import Row


class Proposer(Protocol):
    name: str

    def propose(self, index: int, workspace: Path, history: list[Row]) -> Proposal:
        """Write the snapshot for candidate `index` under `workspace` and describe it."""


def make_proposer(name: str, task: str, policy, profile, seed: int) -> "Proposer":
    from afr_box.orchestrator.proposers.baseline import BaselineProposer
    from afr_box.orchestrator.proposers.hpo import HpoProposer

    if name == "hpo":
        return HpoProposer(task, policy, profile, seed)
    if name == "baseline":
        return BaselineProposer(task, policy)
    raise ValueError(f"unknown proposer {name!r}; available: baseline, hpo")
