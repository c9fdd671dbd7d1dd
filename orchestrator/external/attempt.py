"""`afr-box try`: the workspace's surface as the campaign's next candidate (the baseline first).

Under the campaign's lock, in this order: the surface is copied into a private snapshot (what the
agent does to `surface/` afterwards does not change the candidate, and its description says when
the copy was taken); containers an earlier `try` left behind (killed with -9, or its machine
rebooted) are removed; the baseline runs if it is not logged yet; then the snapshot runs. SIGTERM
and SIGINT stop it and remove its containers (interrupt.py); a row is logged whole or not at all.
"""
from __future__ import annotations

import fcntl
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Optional

from afr_box.orchestrator.campaign.identity import check_base
from afr_box.orchestrator.campaign.literature import source_tag
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.external.interrupt import deferred, interruptible
from afr_box.orchestrator.external.literature import source_required
from afr_box.orchestrator.external.snapshot import Snapshot, snapshot_surface
from afr_box.orchestrator.external.workspace import PROPOSER, Workspace
from afr_box.orchestrator.pipeline.compute import ComputeBound
from afr_box.orchestrator.pipeline.evaluate import Setup, evaluate
from afr_box.orchestrator.pipeline.noise import campaign_noise, missing_seeds, record_floor, record_seed, review_delta
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.pipeline.review import log_outcome
from afr_box.orchestrator.pipeline.smoke import next_smoke_label, smoke_budget_text, smoke_run
from afr_box.orchestrator.proposers.baseline import BaselineProposer
from afr_box.orchestrator.records.layout import candidate_id
from afr_box.orchestrator.records.owner import in_use
from afr_box.orchestrator.records.runlog import COLUMNS, Row, RunLog
from afr_box.orchestrator.records.status import Status
from afr_box.reports.campaign_report import write_report
from afr_box.sandbox.images import find_base
from afr_box.sandbox.providers import local_sandbox

LOCK_FILE = ".afr-try.lock"
# How a snapshot is taken into a new private folder: from the workspace on this host (the
# default), or from the tar stream a jailed agent sent (orchestrator/external/serve.py).
TakeSnapshot = Callable[[Path], Snapshot]


@contextmanager
def campaign_lock(campaign_dir: Path) -> Iterator[None]:
    """One `try` (or smoke run) at a time per campaign: the run log has a single writer, and every
    container labelled with the campaign while the lock is held belongs to the holder."""
    with open(campaign_dir / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CampaignError(f"another `afr-box try` is running on {campaign_dir.name}; wait for it "
                                f"(`afr-box status` shows its row when it is done)") from None
        yield


def _next_index(rows: list[Row]) -> int:
    numbers = [int(r.candidate) for r in rows if r.candidate.isdigit()]
    return max(numbers, default=0) + 1


def _candidates(rows: list[Row]) -> int:
    return sum(r.candidate.isdigit() and r.status != Status.LITERATURE for r in rows)


def workspace_setup(ws: Workspace) -> Setup:
    """The campaign's fixed setup, refused when the base image is not the one it is pinned to."""
    profile, policy, policy_hash = ws.profile_policy()
    sandbox = local_sandbox()
    base = find_base(sandbox.images)
    check_base(ws.meta, base, "add a candidate to")
    return Setup(campaign=ws.campaign_dir.name, campaign_dir=ws.campaign_dir, profile=profile, policy=policy,
                 policy_hash=policy_hash, data_dir=(ws.data_root / profile.task).resolve(), sandbox=sandbox,
                 base=base, compute=ComputeBound(ws.campaign_dir))


@contextmanager
def private_folder(ws: Workspace) -> Iterator[Path]:
    """A folder of the campaign's own (never the agent's) for one snapshot, removed afterwards."""
    parent = ws.campaign.workspace / PROPOSER
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="snapshot-", dir=parent))
    try:
        yield folder / "surface"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def host_snapshot(ws: Workspace) -> TakeSnapshot:
    return lambda dest: snapshot_surface(ws.surface, dest)


def remove_leftovers(setup: Setup, progress: Callable[[str], None]) -> None:
    removed = setup.sandbox.executor.remove_containers(setup.own_containers)
    if removed:
        progress(f"removed {removed} leftover container(s) of an earlier try of {setup.campaign}")


def try_workspace(ws: Workspace, message: str, sources: list[str],
                  progress: Callable[[str], None] = lambda m: None,
                  take: Optional[TakeSnapshot] = None) -> list[Row]:
    """Evaluate the workspace's surface as the next candidate; the baseline first if not logged yet.
    Returns the rows logged (the baseline's, then the candidate's)."""
    message = " ".join(message.split())
    sources = [" ".join(s.split()) for s in sources if s.strip()]
    if not message:
        raise CampaignError("say what changed: afr-box try -m \"one line: what changed and why\"")
    if take is None:
        if not ws.surface.is_dir():
            raise CampaignError(f"{ws.surface} is missing; restore it with `afr-box workspace reset`")
        take = host_snapshot(ws)
    runlog, logged = RunLog(ws.campaign.results), []
    with campaign_lock(ws.campaign_dir), in_use(ws.campaign_dir), interruptible(), private_folder(ws) as private:
        snapshot = take(private)  # first of all: the candidate is the surface as it is now
        progress(f"surface copied at {snapshot.taken_at}: this copy is the candidate (later edits are not)")
        setup = workspace_setup(ws)
        try:
            remove_leftovers(setup, progress)
            rows = runlog.rows()
            _check_allowed(ws, rows, sources)
            if candidate_id(0) not in runlog.done_candidates():
                progress("candidate 0000 (baseline) first: every campaign is reviewed against it")
                baseline = BaselineProposer(setup.task, setup.policy).propose(0, ws.campaign.workspace)
                outcome = evaluate(setup, candidate_id(0), baseline, on_phase=lambda p: progress(f"  {p}"))
                with deferred():
                    logged.append(log_outcome(setup, runlog, outcome, baseline, True))
            _measure_noise(setup, runlog, progress)
            cand = candidate_id(_next_index(runlog.rows()))
            proposal = Proposal(snapshot=snapshot.folder, proposer=PROPOSER, sources=sources,
                                description=f"{PROPOSER}: {message}{source_tag(sources)}{snapshot.tag()}",
                                refused=snapshot.refused)
            progress(f"candidate {cand}: {proposal.description}")
            outcome = evaluate(setup, cand, proposal, on_phase=lambda p: progress(f"  {p}"))
            with deferred():
                logged.append(log_outcome(setup, runlog, outcome, proposal, False))
        finally:
            setup.sandbox.executor.remove_containers(setup.own_containers)
            if ws.campaign.results.exists():
                write_report(ws.campaign_dir)
    return logged


def _measure_noise(setup: Setup, runlog: RunLog, progress: Callable[[str], None]) -> None:
    """The baseline's noise seeds, once, before the first candidate is reviewed (pipeline/noise.py)."""
    folder = setup.folder
    if setup.profile.noise_seeds <= 1 or campaign_noise(folder) is not None:
        return
    for seed in missing_seeds(folder, setup.profile):
        progress(f"noise floor: baseline with seed {seed}")
        baseline = BaselineProposer(setup.task, setup.policy).propose(0, folder.workspace / f"noise-s{seed}")
        outcome = evaluate(replace(setup, campaign_dir=folder.noise_runs), f"{candidate_id(0)}-s{seed}", baseline,
                           seed=seed, on_phase=lambda p: progress(f"  {p}"))
        record_seed(folder, seed, outcome)
    floor = record_floor(folder, setup.profile, runlog.rows())
    if floor is not None:
        progress(f"noise floor: {review_delta(setup.profile.min_delta, floor)[1]}")


def smoke_workspace(ws: Workspace, message: str = "", progress: Callable[[str], None] = lambda m: None,
                    take: Optional[TakeSnapshot] = None) -> tuple[bool, str]:
    """`afr-box try --smoke`: the workspace through the gate, the build and the containers with the
    profile's smoke budget; (passed, what to print). No row, no score, no candidate spent."""
    if take is None:
        if not ws.surface.is_dir():
            raise CampaignError(f"{ws.surface} is missing; restore it with `afr-box workspace reset`")
        take = host_snapshot(ws)
    message = " ".join(message.split()) or "smoke run"
    with campaign_lock(ws.campaign_dir), in_use(ws.campaign_dir), interruptible(), private_folder(ws) as private:
        snapshot = take(private)
        setup = workspace_setup(ws)
        try:
            remove_leftovers(setup, progress)
            label = next_smoke_label(ws.campaign_dir)
            progress(f"smoke run {label} ({smoke_budget_text(setup.profile)}): {message}")
            result = smoke_run(setup, snapshot.folder, label, f"{PROPOSER} smoke: {message}{snapshot.tag()}",
                               refused=snapshot.refused)
        finally:
            setup.sandbox.executor.remove_containers(setup.own_containers)
    return result.ok, result.describe(smoke_budget_text(setup.profile))


def _check_allowed(ws: Workspace, rows: list[Row], sources: list[str]) -> None:
    """The campaign's candidate budget, and literature mode's sources."""
    cap = ws.meta.max_candidates
    if cap is not None and _candidates(rows) >= cap:
        raise CampaignError(f"the campaign's budget of {cap} candidates is spent ({_candidates(rows)} logged): "
                            f"stop here, or start a new campaign with `afr-box workspace init`")
    why = source_required(ws, rows)
    if why and not sources:
        raise CampaignError(f"literature mode ({why}): cite the paper or URL the idea comes from: "
                            f"afr-box try --source <paper or URL> -m \"...\"")


def format_row(row: Row) -> str:
    """A logged row as `column: value` lines, in results.tsv column order."""
    cells = row.to_line().rstrip("\n").split("\t")
    return "\n".join(f"{column}: {value}" for column, value in zip(COLUMNS, cells))
