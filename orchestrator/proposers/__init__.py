"""Proposers turn a candidate index into a surface snapshot + description.

Each is deterministic in (campaign seed, index) -- `optuna` in (campaign seed, index, the logged
history before it) -- so `--resume` regenerates exactly the proposals that were not logged yet.
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
    """An agent produced no candidate this time: the campaign logs a crash row (which costs no
    candidate of --max-candidates) and goes on, or, with `ends_campaign` (its cost cap was
    reached), stops proposing. `usage` says what it cost; `transcript` is its conversation;
    `literature` says it was a literature-mode proposal (its crash row resets the watchdog)."""

    def __init__(self, reason: str, usage, *, ends_campaign: bool = False):
        super().__init__(reason)
        self.usage = usage
        self.ends_campaign = ends_campaign
        self.transcript: Optional[Path] = None
        self.literature = False


# --proposer names; the agents (claude, openai) differ only in the model API they call.
AGENTS = ("claude", "openai")
PROPOSERS = ("hpo", "optuna", "baseline", "baseline-seeds", "snapshots", *AGENTS)


def make_proposer(name: str, task: str, policy, profile, seed: int, snapshots: Optional[Path] = None,
                  agent=None, sampler: Optional[str] = None, folder=None) -> "Proposer":
    """`agent`: AgentOptions for an agent proposer (defaults when None); `sampler` and `folder`
    (the CampaignFolder, whose records rebuild the study on --resume) for --proposer optuna."""
    from afr_box.orchestrator.proposers.baseline import BaselineProposer, ReseededBaselineProposer
    from afr_box.orchestrator.proposers.hpo import HpoProposer
    from afr_box.orchestrator.proposers.snapshots import SnapshotsProposer

    if name == "hpo":
        return HpoProposer(task, policy, profile, seed)
    if name == "optuna":
        from afr_box.orchestrator.proposers.optuna_search import DEFAULT_SAMPLER, OptunaProposer

        return OptunaProposer(task, policy, profile, seed, sampler or DEFAULT_SAMPLER, folder)
    if name == "baseline":
        return BaselineProposer(task, policy)
    if name == "baseline-seeds":
        return ReseededBaselineProposer(task, policy, profile)
    if name == "snapshots":
        if snapshots is None:
            raise ProposerError("--proposer snapshots needs --snapshots DIR (a folder of DIR/<name>/surface/... "
                                "snapshots, replayed in name order)")
        return SnapshotsProposer(snapshots)
    if name in AGENTS:
        from afr_box.orchestrator.proposers.agent.loop import AgentOptions, AgentProposer

        return AgentProposer(name, task, policy, profile, agent or AgentOptions())
    raise ProposerError(f"unknown proposer {name!r}; available: {', '.join(PROPOSERS)}")
