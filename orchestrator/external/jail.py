"""`afr-box agent run`: an external coding agent in its jail, driven, watched and recorded.

    afr-box agent run heart --driver claude-code --max-turns 200 --allow-host api.anthropic.com

One session, in this order:

1. the workspace (a new campaign of TASK, or one on the campaign folder given; `--dir` reused if it is one),
   its program rewritten for the jail (paths as the jail sees them, how long commands behave);
2. the jail image (the base image + git + the in-jail client + the agent CLIs: built if missing);
3. on the host: the egress proxy (sandbox/jail/proxy.py) and the channel server (serve.py), each on
   a Unix socket in a private folder mounted read-only into the jail at /run/afr;
4. the jail (sandbox/jail/spec.py): the workspace read-only with surface/ and .git/ writable, a
   filtered copy of the candidate records read-only (jail_view.py), the training data read-only if
   the policy allows (one jail per campaign at a time); no test inputs or labels, no engine
   socket, no home, no network interface, not root;
5. the driver's command in it until it ends or the session's wall clock runs out; its stdout is
   the transcript (each candidate gets its part as `agent.jsonl`);
6. whatever happens: the jail removed, a `try` in flight finished and logged, the servers stopped,
   .git/config and hooks put back (git_guard.py), the host's program rewritten,
   `agents/<session>/session.json` completed (what ran, the egress and channel counts, the rows).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.external.drivers import Driver, DriverOptions, driver
from afr_box.orchestrator.external.git_guard import git_state, restore_git
from afr_box.orchestrator.external.interrupt import interruptible
from afr_box.orchestrator.external.jail_view import refresh_view
from afr_box.orchestrator.external.serve import ChannelServer
from afr_box.orchestrator.external.workspace import (WORKSPACE_FILE, Workspace, host_facts, init_workspace,
                                                     open_workspace, program_facts, write_program)
from afr_box.orchestrator.records.files import write_json
from afr_box.orchestrator.records.layout import SessionFolder
from afr_box.orchestrator.records.models import AgentSession, save
from afr_box.orchestrator.records.owner import owner_label
from afr_box.orchestrator.records.runlog import utc_now
from afr_box.sandbox.images import find_base
from afr_box.sandbox.jail.channel import CHANNEL_SOCKET, EGRESS_SOCKET
from afr_box.sandbox.jail.image import build_jail, find_jail, jail_agents
from afr_box.sandbox.jail.proxy import EgressProxy
from afr_box.sandbox.jail.run import JailResult, run_jail
from afr_box.sandbox.jail.spec import JailSpec, describe_jail
from afr_box.sandbox.providers import local_sandbox
from afr_box.sandbox.spec import Mount

JAIL_USER = (10002, 10002)  # when afr-box runs as root; otherwise the jail runs as the user who runs it
CANDIDATES_IN_JAIL = "/campaign/candidates"
TRAIN_IN_JAIL = "/data/train"
AGENT_BIN = "/opt/afr-agent/bin"
JAIL_LABEL = "afr.jail"  # never afr.campaign: a `try` removes that campaign's containers, not its agent


@dataclass(frozen=True)
class AgentRun:
    target: str                              # a task, or a campaign folder
    driver: str
    workspace: Optional[Path] = None         # default: ./afr-workspace (made if missing, reused if a workspace)
    allow_hosts: tuple[str, ...] = ()        # besides the driver's API host
    default_hosts: bool = True
    policy: Optional[str] = None
    name: Optional[str] = None
    max_candidates: Optional[int] = None
    runs_dir: Path = Path("runs")
    data_root: Path = Path("afr-data")
    agent_bin: Optional[Path] = None         # an executable standing in for the driver's CLI
    timeout_s: float = 8 * 3600
    options: DriverOptions = field(default_factory=DriverOptions)


def jail_user() -> tuple[int, int]:
    return JAIL_USER if os.geteuid() == 0 else (os.getuid(), os.getgid())


def _workspace(run: AgentRun) -> Workspace:
    """The workspace folder given: reused when it is one (of the same task or campaign), else made."""
    folder = Path(run.workspace or "afr-workspace")
    if not (folder / WORKSPACE_FILE).is_file():
        return init_workspace(run.target, folder, run.data_root, run.policy, run.name, run.runs_dir, run.max_candidates)
    ws = open_workspace(folder)
    if run.target not in (ws.meta.task, str(ws.campaign_dir)) and Path(run.target).resolve() != ws.campaign_dir:
        raise CampaignError(f"{ws.folder} is a workspace of campaign {ws.campaign_dir} (task {ws.meta.task}), "
                            f"not of {run.target}; choose another --workspace")
    return ws


def jail_facts(ws: Workspace, run: AgentRun, training_data: bool) -> dict[str, Any]:
    hours = run.timeout_s / 3600
    minutes = run.options.command_timeout_s // 60
    return program_facts(
        ws, candidates=CANDIDATES_IN_JAIL,
        restore_best=(f"`afr-box status` names it; then `rm -r surface/* && cp -r {CANDIDATES_IN_JAIL}/<id>/surface/. "
                      f"surface/`, or `git checkout <commit> -- surface/` for a state you committed"),
        long_note=(f"In this jail the workspace is read-only but for `surface/` and `.git/` (write logs to /tmp), a "
                   f"shell command may run {minutes} minutes, and a `try` whose command is stopped goes on on the "
                   f"host to its end: its row appears in `afr-box status`. Do not start it again meanwhile (a second "
                   f"one is refused)."),
        data_note=(f"`{TRAIN_IN_JAIL}/`: the training data of every site, read-only (npz: x, y); the test data is "
                   f"not in this jail" if training_data else "The task's data is not in this jail."),
        session_note=(f"You run in a jail (no network but your model API, no afr-box but the verbs above); this "
                      f"session ends after {hours:g} h."),
        records_note=("In this jail a record holds no `infer.log`, `infer/` or scorer files (the inference container "
                      "reads the test inputs); a failed inference's reason and log tail are in the `try` output."))


def _forbidden(ws: Workspace, task: str) -> list[Path]:
    """What the jail must never see: every task's prepared data but this task's training part (test
    inputs and labels, held-out views, other tasks), and the campaign's own candidate records (the
    jail reads a filtered copy: jail_view.py)."""
    root = Path(ws.data_root)
    hidden = [p for d in sorted(root.iterdir()) if d.is_dir() for p in sorted(d.iterdir())
              if not (d.name == task and p.name == "train")] if root.is_dir() else []
    return [*hidden, *[p for p in sorted(root.glob("*")) if p.is_file()], ws.campaign.path / "candidates"]


def _give(path: Path, uid: int, gid: int) -> None:
    """`path` and everything under it to the jail's user (links themselves, never their targets)."""
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def run_agent(run: AgentRun, progress: Callable[[str], None] = lambda m: None) -> tuple[Path, AgentSession]:
    """One jailed session of `run.driver`; returns the session folder and its record."""
    drv = driver(run.driver)
    script, agent_bin = _script(run, drv)
    if not drv.has_key():
        progress(f"note: none of {', '.join(drv.keys)} is set: the agent will have no API key")
    ws = _workspace(run)
    profile, policy, _ = ws.profile_policy()
    sandbox = local_sandbox()
    base = find_base(sandbox.images)
    needs_cli = bool(drv.cli) and agent_bin is None
    image = find_jail(sandbox.images, base)
    if image is None or (needs_cli and not jail_agents(image)):
        image = build_jail(sandbox.images, base, agents=needs_cli, progress=progress)
    if needs_cli and not any(drv.cli in package for package in jail_agents(image)):
        raise CampaignError(f"the jail image {image.tags[0] if image.tags else image.id[:19]} has no `{drv.cli}`: "
                            f"build it with the agent CLIs (`afr-box image jail`, npm must reach its registry) "
                            f"or give an executable with --agent-bin")
    _one_jail_per_campaign(sandbox.executor.client, ws, progress)
    session_id, folder = _new_session(ws)
    uid, gid = jail_user()
    training = policy.agent.training_data
    write_program(ws, jail_facts(ws, run, training))
    hosts = [*(drv.hosts if run.default_hosts else ()), *run.allow_hosts]
    refresh = lambda: refresh_view(ws.campaign, folder.view)  # noqa: E731
    refresh()
    sockets = Path(tempfile.mkdtemp(prefix="afr-jail-"))  # short: a socket path has at most 107 bytes
    mounts = [Mount(folder.view, CANDIDATES_IN_JAIL)]
    if training:
        mounts.append(Mount(ws.data_root / profile.task / "train", TRAIN_IN_JAIL))
    if agent_bin is not None:
        mounts.append(Mount(agent_bin.resolve(), f"{AGENT_BIN}/{drv.cli or agent_bin.name}"))
    command = drv.command(run.options, script)
    spec = JailSpec(image=image.id, command=command, workspace=ws.folder, sockets=sockets, limits=policy.agent,
                    user=f"{uid}:{gid}", timeout_s=run.timeout_s, mounts=mounts,
                    env=drv.environment(run.options), labels={JAIL_LABEL: ws.campaign_dir.name,
                                                              "afr.session": session_id,
                                                              "afr.owner": owner_label()},
                    name=f"afr-jail-{ws.campaign_dir.name}-{session_id}"[:120],
                    forbidden=_forbidden(ws, profile.task))
    write_json(folder.jail, describe_jail(spec))
    record = AgentSession(id=session_id, driver=drv.name, command=command, image=image.id, agents=jail_agents(image),
                          allow_hosts=hosts, training_data=training, started_at=utc_now())
    save(record, folder.session)
    git_config = git_state(ws)
    if os.geteuid() == 0:
        for path in (ws.surface, ws.folder / ".git", sockets):
            _give(path, uid, gid)
    os.chmod(sockets, 0o700)
    proxy = EgressProxy(sockets / EGRESS_SOCKET, hosts, folder.proxy_log)
    server = ChannelServer(ws, sockets / CHANNEL_SOCKET, folder.channel_log, transcript=folder.transcript,
                           after_try=refresh)
    result: Optional[JailResult] = None
    try:
        with interruptible(), proxy, server:
            progress(f"jail {spec.name}: {drv.name} in {ws.folder} (egress: {', '.join(hosts) or 'none'}; "
                     f"records in {folder.path})")
            result = run_jail(sandbox.executor.client, spec, folder.transcript, folder.stderr)
    finally:
        sandbox.executor.remove_containers({JAIL_LABEL: ws.campaign_dir.name, "afr.session": session_id})
        shutil.rmtree(sockets, ignore_errors=True)
        restore_git(ws, git_config)
        write_program(ws, host_facts(ws))  # the workspace's program is the host's again
        record = _finished(record, result, server, folder)
        save(record, folder.session)
    return folder.path, record


def _one_jail_per_campaign(client, ws: Workspace, progress: Callable[[str], None]) -> None:
    """A running jail of this campaign refuses a second (both would edit one surface/); one left
    behind by a session killed with -9 is removed."""
    for container in client.containers.list(all=True, filters={"label": f"{JAIL_LABEL}={ws.campaign_dir.name}"}):
        if container.status == "running":
            raise CampaignError(f"an agent session already runs on campaign {ws.campaign_dir.name} (container "
                                f"{container.name}); wait for it, or stop it with `docker rm -f {container.name}`")
        container.remove(force=True)
        progress(f"removed the jail {container.name} an earlier session left behind")


def _new_session(ws: Workspace) -> tuple[str, SessionFolder]:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    for n in range(1, 100):
        session_id = stamp if n == 1 else f"{stamp}-{n}"
        folder = ws.campaign.session(session_id)
        try:
            folder.path.mkdir(parents=True)
            return session_id, folder
        except FileExistsError:
            continue
    raise CampaignError(f"too many agent sessions started at {stamp} in {ws.campaign_dir}")


def _script(run: AgentRun, drv: Driver) -> tuple[Optional[str], Optional[Path]]:
    """(the in-jail path of a `script` driver's executable, the host executable mounted there, or the
    one given with --agent-bin for another driver)."""
    if drv.name != "script":
        return None, run.agent_bin
    if not run.options.extra:
        drv.command(run.options, None)  # raises the one-line usage error
    exe = Path(run.options.extra[0])
    if not exe.is_file() or not os.access(exe, os.X_OK):
        raise CampaignError(f"{exe}: not an executable file (the script driver runs it in the jail)")
    return f"{AGENT_BIN}/{exe.name}", exe


def _finished(record: AgentSession, result: Optional[JailResult], server: ChannelServer,
              folder: SessionFolder) -> AgentSession:
    egress: Counter = Counter()
    if folder.proxy_log.is_file():
        for line in folder.proxy_log.read_text().splitlines():
            egress[json.loads(line).get("verdict", "?")] += 1
    update: dict[str, Any] = {"finished_at": utc_now(), "requests": dict(server.counts), "egress": dict(egress),
                              "candidates": list(server.candidates)}
    if result is not None:
        update.update(exit_code=result.exit_code, timed_out=result.timed_out, wall_s=result.wall_s)
    return record.model_copy(update=update)
