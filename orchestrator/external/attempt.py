"""`afr-box try`: the workspace's surface as the campaign's next candidate (the baseline first)."""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from afr_box.orchestrator.campaign.identity import check_base
from afr_box.orchestrator.campaign.literature import source_tag
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.external.workspace import PROPOSER, Workspace
from afr_box.orchestrator.pipeline.evaluate import Setup, evaluate
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.pipeline.review import log_outcome
from afr_box.orchestrator.proposers.baseline import BaselineProposer
from afr_box.orchestrator.records.layout import candidate_id
from afr_box.orchestrator.records.runlog import COLUMNS, Row, RunLog
from afr_box.reports.campaign_report import write_report
from afr_box.sandbox.images import find_base
from afr_box.sandbox.providers import local_sandbox


@contextmanager
def _campaign_lock(campaign_dir: Path) -> Iterator[None]:
    """One `try` at a time per campaign (the run log has a single writer)."""
    with open(campaign_dir / ".afr-try.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CampaignError(f"another `afr-box try` is running on {campaign_dir.name}; wait for it") from None
        yield


def _next_index(rows: list[Row]) -> int:
    numbers = [int(r.candidate) for r in rows if r.candidate.isdigit()]
    return max(numbers, default=0) + 1


def try_workspace(ws: Workspace, message: str, sources: list[str],
                  progress: Callable[[str], None] = lambda m: None) -> list[Row]:
    """Evaluate the workspace's surface as the next candidate; the baseline first if not logged yet.
    Returns the rows logged (the baseline's, then the candidate's)."""
    message = " ".join(message.split())
    if not message:
        raise CampaignError("say what changed: afr-box try -m \"one line: what changed and why\"")
    if not ws.surface.is_dir():
        raise CampaignError(f"{ws.surface} is missing; restore it with `afr-box workspace reset`")
    profile, policy, policy_hash = ws.profile_policy()
    sandbox = local_sandbox()
    base = find_base(sandbox.images)
    check_base(ws.meta, base, "add a candidate to")
    setup = Setup(campaign=ws.campaign_dir.name, campaign_dir=ws.campaign_dir, profile=profile, policy=policy,
                  policy_hash=policy_hash, data_dir=(ws.data_root / profile.task).resolve(), sandbox=sandbox,
                  base=base)
    runlog, logged = RunLog(ws.campaign.results), []
    with _campaign_lock(ws.campaign_dir):
        try:
            if candidate_id(0) not in runlog.done_candidates():
                progress("candidate 0000 (baseline) first: every campaign is reviewed against it")
                baseline = BaselineProposer(profile.task, policy).propose(0, ws.campaign.workspace)
                outcome = evaluate(setup, candidate_id(0), baseline, on_phase=lambda p: progress(f"  {p}"))
                logged.append(log_outcome(setup, runlog, outcome, baseline, True))
            cand = candidate_id(_next_index(runlog.rows()))
            proposal = Proposal(snapshot=ws.surface, description=f"{PROPOSER}: {message}{source_tag(sources)}",
                                proposer=PROPOSER, sources=list(sources))
            progress(f"candidate {cand}: {proposal.description}")
            outcome = evaluate(setup, cand, proposal, on_phase=lambda p: progress(f"  {p}"))
            logged.append(log_outcome(setup, runlog, outcome, proposal, False))
        finally:
            sandbox.executor.remove_containers({"afr.campaign": setup.campaign})
            if ws.campaign.results.exists():
                write_report(ws.campaign_dir)
    return logged


def format_row(row: Row) -> str:
    """A logged row as `column: value` lines, in results.tsv column order."""
    cells = row.to_line().rstrip("\n").split("\t")
    return "\n".join(f"{column}: {value}" for column, value in zip(COLUMNS, cells))
