"""External coding-agent mode: Claude Code, Codex and the like drive a campaign by commands.

    afr-box workspace init <task-or-campaign>   a workspace: surface/ (a copy of the surface),
                                                AGENTS.md + CLAUDE.md (the program), .afr-workspace.json
    afr-box try -m "..." [--source S]           the workspace's surface as the campaign's next candidate
    afr-box status                              best so far, recent rows, the plateau watchdog
    afr-box literature start|finish|log         literature events (non-scored rows with sources)

This module makes and opens workspaces; `attempt.py` runs `try`, `status.py` reports, and
`literature.py` logs literature events. `try` goes through the same `evaluate()` and
`log_outcome()` as a built-in candidate, so its row and record have the same fields. The workspace holds only a copy of the surface: nothing
the agent edits there reaches an image except through the gate. The profile and policy are
the repository's, checked against the hashes the campaign started with.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from afr_box.orchestrator.campaign.identity import base_pin
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.orchestrator.proposers.agent.program import render_program
from afr_box.orchestrator.records.files import read_json, write_json
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, load, save
from afr_box.orchestrator.records.runlog import Row, RunLog, best_row, utc_now
from afr_box.policies.schema import Policy, load_policy, policy_path
from afr_box.profiles.schema import Profile, load_profile, profile_path
from afr_box.sandbox.images import find_base
from afr_box.sandbox.providers import local_sandbox
from afr_box.tasks.shared.hashing import sha256_file
from afr_box.tasks.shared.prepared import verify_prepared

WORKSPACE_FILE = ".afr-workspace.json"
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
    def campaign(self) -> CampaignFolder:
        return CampaignFolder(self.campaign_dir)

    @property
    def meta(self) -> CampaignMeta:
        return load(CampaignMeta, self.campaign.meta)

    def profile_policy(self) -> tuple[Profile, Policy, str]:
        """The repository's profile and policy, refused if they changed since the campaign started."""
        meta = self.meta
        profile, ppath = load_profile(meta.task), policy_path(meta.policy)
        for key, path, recorded in (("profile_sha256", profile_path(meta.task), meta.profile_sha256),
                                    ("policy_sha256", ppath, meta.policy_sha256)):
            if sha256_file(path) != recorded:
                raise CampaignError(f"{path} changed since campaign {meta.name} started ({key}); "
                                    f"start a new workspace with `afr-box workspace init {meta.task}`")
        return profile, load_policy(meta.policy), meta.policy_sha256

    def rows(self) -> list[Row]:
        return RunLog(self.campaign.results).rows()


def open_workspace(folder: Path) -> Workspace:
    state = Path(folder) / WORKSPACE_FILE
    if not state.is_file():
        raise CampaignError(f"{Path(folder).resolve()} is not an afr-box workspace (no {WORKSPACE_FILE}); "
                            f"create one with `afr-box workspace init <task>` or pass --workspace DIR")
    data = read_json(state)
    return Workspace(Path(folder).resolve(), Path(data["campaign_dir"]), Path(data["data_root"]))


# --------------------------------------------------------------------------- init / reset


def _new_campaign(task: str, policy_name: Optional[str], name: Optional[str], runs_dir: Path) -> Path:
    profile = load_profile(task)
    policy_name = policy_name or profile.default_policy
    policy, ppath = load_policy(policy_name), policy_path(policy_name)
    name = name or f"{task}-{PROPOSER}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    folder = CampaignFolder((runs_dir / name).resolve())
    if folder.path.exists():
        raise CampaignError(f"campaign folder {folder.path} already exists: pass it to `workspace init` to attach, "
                            f"or choose another --name")
    base = find_base(local_sandbox().images)
    folder.path.mkdir(parents=True)
    save(CampaignMeta(name=name, task=task, proposer=PROPOSER, seed=0, max_candidates=None,
                      profile_sha256=sha256_file(profile_path(task)), policy=policy.name,
                      policy_sha256=sha256_file(ppath), **base_pin(base), created_at=utc_now()), folder.meta)
    shutil.copyfile(profile_path(task), folder.profile)
    shutil.copyfile(ppath, folder.policy)
    return folder.path


def best_surface(ws: Workspace, profile: Profile, policy: Policy, candidate: Optional[str] = None) -> Path:
    """Copy the surface of `candidate` (default: the best kept one, else the baseline) into the workspace."""
    rows = {r.candidate: r for r in ws.rows()}
    row = rows.get(candidate) if candidate else best_row(list(rows.values()), profile.metric.higher_is_better)
    if candidate and row is None:
        raise CampaignError(f"candidate {candidate} is not in {ws.campaign.results}")
    source = ws.campaign.artifacts(row.artifacts).surface if row is not None else None
    if source is not None and source.is_dir():
        shutil.rmtree(ws.surface, ignore_errors=True)
        shutil.copytree(source, ws.surface)
        return ws.surface
    return baseline_snapshot(profile.task, policy, ws.surface)


def init_workspace(target: str, folder: Path, data_root: Path, policy_name: Optional[str] = None,
                   name: Optional[str] = None, runs_dir: Path = Path("runs")) -> Workspace:
    """A workspace on an existing campaign folder, or on a new campaign of task `target`."""
    folder = Path(folder).resolve()
    if folder.exists() and any(folder.iterdir()):
        raise CampaignError(f"{folder} exists and is not empty; choose another --dir")
    if CampaignFolder(Path(target)).is_campaign():
        campaign_dir = Path(target).resolve()
        task = load(CampaignMeta, CampaignFolder(campaign_dir).meta).task
    else:
        task = target
        load_profile(task)  # an unknown task fails here, naming the known ones
        verify_prepared(data_root / task)
        campaign_dir = _new_campaign(task, policy_name, name, runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / WORKSPACE_FILE, {"campaign_dir": str(campaign_dir),
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
            f"run log: {ws.campaign.results} -->\n\n")
