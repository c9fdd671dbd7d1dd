"""External coding-agent mode: Claude Code, Codex and the like drive a campaign by commands.

    afr-box workspace init <task-or-campaign>   a workspace: surface/ (a copy of the surface),
                                                AGENTS.md + CLAUDE.md (the program), .afr-workspace.json
    afr-box try -m "..." [--source S]           the workspace's surface as the campaign's next candidate
    afr-box status                              best so far, recent rows, the plateau watchdog
    afr-box literature start|finish|log         literature events (non-scored rows with sources)

`try` goes through the same `evaluate()` and `log_outcome()` as a built-in candidate, so its
row and record have the same fields. The workspace holds only a copy of the surface: nothing
the agent edits there reaches an image except through the gate. The profile and policy are
the repository's, checked against the hashes the campaign started with.
"""
from __future__ import annotations

import fcntl
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional

from afr_box.orchestrator import records
from afr_box.orchestrator.agent_program import render_program
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.literature import budget_text, log_literature, source_tag
from afr_box.orchestrator.runlog import COLUMNS, Row, RunLog, utc_now
from afr_box.orchestrator.watchdog import PlateauState, plateau_state
from afr_box.policies.schema import Policy, load_policy, policy_path
from afr_box.profiles.schema import Profile, load_profile, profile_path
from afr_box.tasks.shared.hashing import sha256_file

WORKSPACE_FILE = ".afr-workspace.json"
LITERATURE_FILE = ".afr-literature.json"
PROGRAM_FILES = ("AGENTS.md", "CLAUDE.md")
PROPOSER = "external"


@dataclass(frozen=True)
class Workspace:
    folder: Path
    campaign_dir: Path
    data_root: Path

    @property
    def surface(self) -> Path:
        return self.folder / "surface"

    @property
    def meta(self) -> dict:
        return records.read_json(self.campaign_dir / "campaign.json")

    def profile_policy(self) -> tuple[Profile, Policy, str]:
        """The repository's profile and policy, refused if they changed since the campaign started."""
        meta = self.meta
        profile, ppath = load_profile(meta["task"]), policy_path(meta["policy"])
        for key, path in (("profile_sha256", profile_path(meta["task"])), ("policy_sha256", ppath)):
            if sha256_file(path) != meta.get(key):
                raise CampaignError(f"{path} changed since campaign {meta['name']} started ({key}); "
                                    f"start a new workspace with `afr-box workspace init {meta['task']}`")
        return profile, load_policy(meta["policy"]), meta["policy_sha256"]

    def rows(self) -> list[Row]:
        return RunLog(self.campaign_dir / "results.tsv").rows()


def open_workspace(folder: Path) -> Workspace:
    state = Path(folder) / WORKSPACE_FILE
    if not state.is_file():
        raise CampaignError(f"{Path(folder).resolve()} is not an afr-box workspace (no {WORKSPACE_FILE}); "
                            f"create one with `afr-box workspace init <task>` or pass --workspace DIR")
    data = records.read_json(state)
    return Workspace(Path(folder).resolve(), Path(data["campaign_dir"]), Path(data["data_root"]))


# --------------------------------------------------------------------------- init / reset


def _new_campaign(task: str, policy_name: Optional[str], name: Optional[str], runs_dir: Path) -> Path:
    from afr_box.sandbox.docker_provider import DockerProvider
    from afr_box.sandbox.images import find_base

    profile = load_profile(task)
    policy_name = policy_name or profile.default_policy
    policy, ppath = load_policy(policy_name), policy_path(policy_name)
    name = name or f"{task}-{PROPOSER}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    folder = (runs_dir / name).resolve()
    if folder.exists():
        raise CampaignError(f"campaign folder {folder} already exists: pass it to `workspace init` to attach, "
                            f"or choose another --name")
    base = find_base(DockerProvider())
    folder.mkdir(parents=True)
    records.write_json(folder / "campaign.json", {
        "name": name, "task": task, "proposer": PROPOSER, "seed": 0, "max_candidates": None,
        "profile_sha256": sha256_file(profile_path(task)), "policy": policy.name,
        "policy_sha256": sha256_file(ppath), "base_image_id": base.id, "created_at": utc_now()})
    shutil.copyfile(profile_path(task), folder / "profile.yaml")
    shutil.copyfile(ppath, folder / "policy.yaml")
    return folder


def best_surface(ws: Workspace, profile: Profile, policy: Policy, candidate: Optional[str] = None) -> Path:
    """Copy the surface of `candidate` (default: the best kept one, else the baseline) into the workspace."""
    from afr_box.orchestrator.runlog import best_row
    from afr_box.orchestrator.surface import baseline_snapshot

    rows = {r.candidate: r for r in ws.rows()}
    row = rows.get(candidate) if candidate else best_row(list(rows.values()), profile.metric.higher_is_better)
    if candidate and row is None:
        raise CampaignError(f"candidate {candidate} is not in {ws.campaign_dir / 'results.tsv'}")
    source = ws.campaign_dir / row.artifacts / "surface" if row is not None else None
    if source is not None and source.is_dir():
        shutil.rmtree(ws.surface, ignore_errors=True)
        shutil.copytree(source, ws.surface)
        return ws.surface
    return baseline_snapshot(profile.task, policy, ws.surface)


def init_workspace(target: str, folder: Path, data_root: Path, policy_name: Optional[str] = None,
                   name: Optional[str] = None, runs_dir: Path = Path("runs")) -> Workspace:
    """A workspace on an existing campaign folder, or on a new campaign of task `target`."""
    from afr_box.tasks.shared.prepared import verify_prepared

    folder = Path(folder).resolve()
    if folder.exists() and any(folder.iterdir()):
        raise CampaignError(f"{folder} exists and is not empty; choose another --dir")
    if (Path(target) / "campaign.json").is_file():
        campaign_dir = Path(target).resolve()
        task = records.read_json(campaign_dir / "campaign.json")["task"]
    else:
        task = target
        load_profile(task)  # an unknown task fails here, naming the known ones
        verify_prepared(data_root / task)
        campaign_dir = _new_campaign(task, policy_name, name, runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    records.write_json(folder / WORKSPACE_FILE, {"campaign_dir": str(campaign_dir),
                                                 "data_root": str(Path(data_root).resolve()), "task": task})
    ws = open_workspace(folder)
    profile, policy, _ = ws.profile_policy()
    best_surface(ws, profile, policy)
    program = _workspace_header(ws, task) + render_program("external", profile, policy)
    for program_file in PROGRAM_FILES:
        (folder / program_file).write_text(program)
    return ws


def _workspace_header(ws: Workspace, task: str) -> str:
    return (f"<!-- afr-box workspace of campaign {ws.campaign_dir.name} (task {task}); "
            f"run log: {ws.campaign_dir / 'results.tsv'} -->\n\n")


# --------------------------------------------------------------------------- try


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
    from afr_box.orchestrator.campaign import log_outcome
    from afr_box.orchestrator.evaluate import Proposal, Setup, evaluate
    from afr_box.orchestrator.proposers.baseline import BaselineProposer
    from afr_box.reports.campaign_report import write_report
    from afr_box.sandbox.docker_provider import DockerProvider
    from afr_box.sandbox.images import find_base

    message = " ".join(message.split())
    if not message:
        raise CampaignError("say what changed: afr-box try -m \"one line: what changed and why\"")
    if not ws.surface.is_dir():
        raise CampaignError(f"{ws.surface} is missing; restore it with `afr-box workspace reset`")
    profile, policy, policy_hash = ws.profile_policy()
    provider = DockerProvider()
    setup = Setup(campaign=ws.campaign_dir.name, campaign_dir=ws.campaign_dir, profile=profile, policy=policy,
                  policy_hash=policy_hash, data_dir=(ws.data_root / profile.task).resolve(), provider=provider,
                  base=find_base(provider))
    runlog, logged = RunLog(ws.campaign_dir / "results.tsv"), []
    with _campaign_lock(ws.campaign_dir):
        try:
            if records.candidate_id(0) not in runlog.done_candidates():
                progress("candidate 0000 (baseline) first: every campaign is reviewed against it")
                base = BaselineProposer(profile.task, policy).propose(0, ws.campaign_dir / "workspace")
                outcome = evaluate(setup, records.candidate_id(0), base, on_phase=lambda p: progress(f"  {p}"))
                logged.append(log_outcome(setup, runlog, outcome, base, True))
            cand = records.candidate_id(_next_index(runlog.rows()))
            proposal = Proposal(snapshot=ws.surface, description=f"{PROPOSER}: {message}{source_tag(sources)}",
                                proposer=PROPOSER, sources=list(sources))
            progress(f"candidate {cand}: {proposal.description}")
            outcome = evaluate(setup, cand, proposal, on_phase=lambda p: progress(f"  {p}"))
            logged.append(log_outcome(setup, runlog, outcome, proposal, False))
        finally:
            provider.remove_containers({"afr.campaign": setup.campaign})
            if (ws.campaign_dir / "results.tsv").exists():
                write_report(ws.campaign_dir)
    return logged


def format_row(row: Row) -> str:
    """A logged row as `column: value` lines, in results.tsv column order."""
    cells = row.to_line().rstrip("\n").split("\t")
    return "\n".join(f"{column}: {value}" for column, value in zip(COLUMNS, cells))


# --------------------------------------------------------------------------- status


def plateau(ws: Workspace) -> PlateauState:
    profile, _, _ = ws.profile_policy()
    return plateau_state(ws.rows(), profile.plateau_threshold)


def status_text(ws: Workspace, last: int = 10) -> str:
    profile, _, _ = ws.profile_policy()
    rows = ws.rows()
    from afr_box.orchestrator.runlog import best_row

    best = best_row(rows, profile.metric.higher_is_better)
    lines = [f"campaign {ws.campaign_dir.name} (task {profile.task}, {len(rows)} rows): {ws.campaign_dir}"]
    if best is None:
        lines.append("best: none yet (the first `afr-box try` runs the baseline first)")
    else:
        lines.append(f"best: {best.candidate} {profile.metric.name} {best.score:.4f}  {best.description}")
    lines.append(plateau_state(rows, profile.plateau_threshold).describe())
    if (ws.folder / LITERATURE_FILE).is_file():
        lines.append("literature event in progress: finish it with `afr-box literature finish --source ... -m ...`")
    if rows:
        lines.append("recent rows:")
        for r in rows[-last:]:
            score = "" if r.score is None else f"{r.score:.4f}"
            lines.append(f"  {r.candidate:5} {r.status:10} {score:7} {r.description[:90]}"
                         + (f"  ({r.reason[:80]})" if r.status in ("crash", "rejected", "violation") else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------- literature


def literature_start(ws: Workspace) -> str:
    state = ws.folder / LITERATURE_FILE
    if state.is_file():
        raise CampaignError("a literature event is already in progress; finish it first")
    records.write_json(state, {"started_at": utc_now(), "started_epoch": time.time()})
    return "literature event started: read, then `afr-box literature finish --source <paper or URL> -m \"...\"`"


def literature_finish(ws: Workspace, sources: list[str], summary: str) -> Row:
    state = ws.folder / LITERATURE_FILE
    if not state.is_file():
        raise CampaignError("no literature event in progress; start one with `afr-box literature start`")
    sources = [" ".join(s.split()) for s in sources if s.strip()]
    if not sources:
        raise CampaignError("a literature event needs at least one --source (paper or URL)")
    summary = " ".join(summary.split()) or "sources read"
    profile, policy, _ = ws.profile_policy()
    elapsed = max(0.0, time.time() - records.read_json(state)["started_epoch"])
    row = log_literature(ws.campaign_dir, RunLog(ws.campaign_dir / "results.tsv"), task=profile.task,
                         policy=policy.name, seed=profile.budget.seed, budget=budget_text(profile), proposer=PROPOSER, sources=sources, summary=summary, elapsed_s=elapsed)
    state.unlink()
    return row


def literature_log(ws: Workspace) -> str:
    rows = [r for r in ws.rows() if r.status == "literature"]
    if not rows:
        return "no literature events yet"
    out = []
    for r in rows:
        event = records.read_json_or(ws.campaign_dir / r.artifacts / "literature.json", {})
        out.append(f"{r.candidate} {r.finished_at} {r.runtime_seconds:.0f}s {r.description}")
        out += [f"    - {s}" for s in event.get("sources", [])]
    return "\n".join(out)
