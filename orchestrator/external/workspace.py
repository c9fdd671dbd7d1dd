"""External coding-agent mode: Claude Code, Codex and the like drive a campaign by commands.

    afr-box workspace init <task-or-campaign>   a workspace (a git repository): surface/ (a copy of the
                                                surface), AGENTS.md + CLAUDE.md (the program), contract.md,
                                                profile.yaml, policy.yaml, .afr-workspace.json
    afr-box check                               the gate's verdict per check on the workspace, no build
    afr-box try -m "..." [--source S]           the workspace's surface as the campaign's next candidate
    afr-box status                              best so far, recent rows, the plateau watchdog
    afr-box literature start|finish|log         literature events (non-scored rows with sources)
    afr-box agent run ...                       the agent itself, confined in a jail (jail.py)

This module makes and opens workspaces; `attempt.py` runs `try`, `check.py` the gate alone,
`status.py` reports, and `literature.py` logs literature events. `try` goes through the same
`evaluate()` and `log_outcome()` as a built-in candidate, so its row and record have the same
fields. The workspace holds only a copy of the surface: nothing the agent edits there reaches an
image except through the gate. The profile and policy are the repository's, checked against the
hashes the campaign started with.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from afr_box.orchestrator.campaign.identity import base_pin
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.gate.document import contract_markdown
from afr_box.orchestrator.gate.surface import baseline_snapshot, working_copy
from afr_box.orchestrator.pipeline.smoke import smoke_budget_text
from afr_box.orchestrator.proposers.agent.program import render_program
from afr_box.orchestrator.records.files import atomic_write_text, read_json, write_json
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
CONTRACT_FILE = "contract.md"
PROFILE_FILE, POLICY_FILE = "profile.yaml", "policy.yaml"
PROPOSER = "external"
# afr-box's own state in a workspace: never part of the agent's history.
GITIGNORE = ".afr-*\n*.log\n"


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
        """The campaign's own profile (its copy in the campaign folder: the shipped one, or the
        variant a built-in campaign was started with `--profile`) and the repository's policy,
        each refused if it changed since the campaign started."""
        meta = self.meta
        own, ppath = self.campaign.profile, policy_path(meta.policy)
        for key, path, recorded in (("profile_sha256", own, meta.profile_sha256),
                                    ("policy_sha256", ppath, meta.policy_sha256)):
            if not path.is_file() or sha256_file(path) != recorded:
                raise CampaignError(f"{path} changed since campaign {meta.name} started ({key}); "
                                    f"start a new workspace with `afr-box workspace init {meta.task}`")
        return load_profile(own), load_policy(meta.policy), meta.policy_sha256

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


def _new_campaign(task: str, policy_name: Optional[str], name: Optional[str], runs_dir: Path,
                  max_candidates: Optional[int] = None) -> Path:
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
    save(CampaignMeta(name=name, task=task, proposer=PROPOSER, seed=0, max_candidates=max_candidates,
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
        return working_copy(source, ws.surface)
    return baseline_snapshot(profile.task, policy, ws.surface)


def init_workspace(target: str, folder: Path, data_root: Path, policy_name: Optional[str] = None,
                   name: Optional[str] = None, runs_dir: Path = Path("runs"),
                   max_candidates: Optional[int] = None) -> Workspace:
    """A workspace on an existing campaign folder, or on a new campaign of task `target`."""
    folder = Path(folder).resolve()
    if folder.exists() and any(folder.iterdir()):
        raise CampaignError(f"{folder} exists and is not empty; choose another --dir")
    git = _git_or_refuse()
    if CampaignFolder(Path(target)).is_campaign():
        campaign_dir = Path(target).resolve()
        task = load(CampaignMeta, CampaignFolder(campaign_dir).meta).task
        if max_candidates is not None:
            raise CampaignError("--max-candidates is set when a campaign starts; this one exists already")
    else:
        task = target
        load_profile(task)  # an unknown task fails here, naming the known ones
        verify_prepared(data_root / task)
        campaign_dir = _new_campaign(task, policy_name, name, runs_dir, max_candidates)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / WORKSPACE_FILE, {"campaign_dir": str(campaign_dir),
                                         "data_root": str(Path(data_root).resolve()), "task": task})
    ws = open_workspace(folder)
    profile, policy, _ = ws.profile_policy()
    best_surface(ws, profile, policy)
    write_program(ws, host_facts(ws))
    atomic_write_text(folder / ".gitignore", GITIGNORE)
    _git(git, folder, "init", "-q")
    _git(git, folder, "add", "-A")
    _git(git, folder, "commit", "-q", "-m", f"the best kept surface of campaign {campaign_dir.name}")
    return ws


def write_program(ws: Workspace, facts: dict[str, Any]) -> None:
    """The files an agent reads: its program (AGENTS.md = CLAUDE.md), contract.md, the profile and policy."""
    profile, policy, _ = ws.profile_policy()
    program = _workspace_header(ws, profile.task) + render_program("external", profile, policy, workspace=facts)
    for program_file in PROGRAM_FILES:
        atomic_write_text(ws.folder / program_file, program)
    atomic_write_text(ws.folder / CONTRACT_FILE, contract_markdown(profile, policy))
    shutil.copyfile(ws.campaign.profile, ws.folder / PROFILE_FILE)
    shutil.copyfile(ws.campaign.policy, ws.folder / POLICY_FILE)


def example_path(globs: list[str]) -> str:
    """A surface path the policy lets the agent write (the program's example must be one)."""
    plain = [g for g in globs if not any(c in g for c in "*?[")]
    return (plain or globs)[0]


def program_facts(ws: Workspace, candidates: str, restore_best: str, long_note: str = "",
                  data_note: str = "", session_note: str = "", records_note: str = "") -> dict[str, Any]:
    """What the external program says about this workspace: where candidate records are, how to go
    back to the best surface, the candidate budget, and notes of the place the agent runs in."""
    profile, policy, _ = ws.profile_policy()
    example = example_path(policy.globs_for(profile.task))
    return {"example_path": example, "candidates": candidates, "restore_best": restore_best,
            "max_candidates": ws.meta.max_candidates, "smoke_budget": smoke_budget_text(profile),
            "long_note": long_note, "data_note": data_note, "session_note": session_note,
            "records_note": records_note}


def host_facts(ws: Workspace) -> dict[str, Any]:
    """The program's facts for an agent that runs on this host, in the workspace folder."""
    return program_facts(
        ws, candidates=str(ws.campaign.path / "candidates"),
        restore_best="`afr-box workspace reset`, or `afr-box workspace reset --candidate <id>` for another one",
        long_note="If `try` is stopped anyway (a signal), it removes its containers and logs no row: run it again.")


def _workspace_header(ws: Workspace, task: str) -> str:
    return (f"<!-- afr-box workspace of campaign {ws.campaign_dir.name} (task {task}); "
            f"run log: {ws.campaign.results} -->\n\n")


def _git_or_refuse() -> str:
    git = shutil.which("git")
    if git is None:
        raise CampaignError("git is not installed (a workspace is a git repository): apt-get install -y git")
    return git


def _git(git: str, folder: Path, *args: str) -> None:
    """git in a workspace afr-box just made, isolated from the user's and the system's git config
    (their hooks, signing, templates), so it behaves the same on every machine."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "afr-box", "GIT_AUTHOR_EMAIL": "afr-box@localhost",
           "GIT_COMMITTER_NAME": "afr-box", "GIT_COMMITTER_EMAIL": "afr-box@localhost"}
    done = subprocess.run([git, "-c", "core.hooksPath=" + os.devnull, "-c", "commit.gpgSign=false",
                           "-c", "init.defaultBranch=main", *args], cwd=folder, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise CampaignError(f"git {args[0]} in {folder} failed: {done.stderr.strip() or done.stdout.strip()}")
