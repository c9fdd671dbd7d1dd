"""`afr-box workspace`, `try`, `status`, `literature`: the commands an external coding agent runs."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from afr_box.orchestrator.cli.options import DATA_ROOT, JSON, RUNS_DIR, WORKSPACE, data_root_or_default, echo_json


@click.group()
def workspace():
    """Workspaces for external coding agents (Claude Code, Codex, ...)."""


@workspace.command("init")
@click.argument("target")
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=Path("afr-workspace"), show_default=True,
              help="the workspace folder to create")
@click.option("--policy", default=None, help="for a new campaign: policy name (default: the profile's)")
@click.option("--name", default=None, help="for a new campaign: its name (default: TASK-external-TIMESTAMP)")
@click.option("--max-candidates", type=click.IntRange(1), default=None,
              help="for a new campaign: how many candidates it may log, the baseline included (default: no cap)")
@RUNS_DIR
@DATA_ROOT
def workspace_init(target, folder, policy, name, max_candidates, runs_dir, data_root):
    """Create a workspace on a new campaign of task TARGET, or on the campaign folder TARGET: a git
    repository with surface/ (the files the agent edits), AGENTS.md and CLAUDE.md (its program),
    contract.md (the gate's checks), profile.yaml and policy.yaml.

    \b
    Examples:
      afr-box workspace init synthetic --policy architecture-open --dir ws
      afr-box workspace init heart --max-candidates 12 --dir ws-heart
      afr-box workspace init runs/synthetic-external-20261128-120000 --dir ws2
    """
    from afr_box.orchestrator.external.workspace import init_workspace

    ws = init_workspace(target, folder, data_root_or_default(data_root), policy, name, runs_dir, max_candidates)
    click.echo(f"workspace {ws.folder} on campaign {ws.campaign_dir}\n"
               f"edit {ws.surface}/..., then: cd {ws.folder} && afr-box try -m \"what changed and why\"")


@workspace.command("reset")
@WORKSPACE
@click.option("--candidate", default=None, help="take this candidate's surface (default: the best kept one)")
def workspace_reset(workspace_dir, candidate):
    """Put the best kept surface (or a given candidate's) back into the workspace.

    \b
    Examples:
      afr-box workspace reset
      afr-box workspace reset --candidate 0003
    """
    from afr_box.orchestrator.external.workspace import best_surface, open_workspace

    ws = open_workspace(workspace_dir)
    profile, policy, _ = ws.profile_policy()
    click.echo(f"surface reset from {candidate or 'the best kept candidate'}: {best_surface(ws, profile, policy, candidate)}")


@click.command("try")
@click.option("-m", "--message", default="", help="one line: what changed and why (required but for --smoke)")
@click.option("--source", "sources", multiple=True,
              help="a paper or URL the idea comes from (repeatable; required in literature mode)")
@click.option("--smoke", is_flag=True,
              help="a smoke run: the profile's smoke budget (1 round, 2 clients, a few steps) through the same "
                   "containers; no score, no row, no candidate spent")
@WORKSPACE
def try_cmd(message, sources, smoke, workspace_dir):
    """Run the workspace's surface as the campaign's next candidate (gate, build, train, infer,
    score, verify, review) and print its row. The baseline runs first if it is not logged yet. The
    surface is copied when `try` starts; SIGTERM or Ctrl-C stops it and removes its containers.
    With --smoke: whether it builds, trains, infers and scores at all, in a fraction of the time.
    Exit 0 when the row is logged (or the smoke run passed), 1 when a smoke run fails.

    \b
    Examples:
      afr-box try --smoke -m "client: FedProx proximal term"
      afr-box try -m "knobs: lr 0.01 -> 0.02"
      afr-box try -m "client: FedProx proximal term mu=0.01" --source arXiv:1812.06127
    """
    from afr_box.orchestrator.external.attempt import format_row, smoke_workspace, try_workspace
    from afr_box.orchestrator.external.interrupt import Interrupted
    from afr_box.orchestrator.external.status import plateau
    from afr_box.orchestrator.external.workspace import open_workspace

    ws = open_workspace(workspace_dir)
    progress = lambda m: click.echo(m, err=True)  # noqa: E731
    try:
        if smoke:
            passed, text = smoke_workspace(ws, message, progress=progress)
            click.echo(text)
            sys.exit(0 if passed else 1)
        rows = try_workspace(ws, message, list(sources), progress=progress)
    except Interrupted as stop:
        click.secho(f"error: {stop}: the {'smoke run' if smoke else 'candidate'} is not logged and its containers "
                    f"are removed", fg="red", err=True)
        sys.exit(stop.exit_code)
    for row in rows:
        click.echo(format_row(row) + "\n")
    state = plateau(ws)
    click.echo(state.describe())
    if state.fired:
        click.echo("literature mode: `afr-box literature start`, read, `afr-box literature finish --source ... -m ...`, "
                   "then `afr-box try --source ...`")


@click.command("check")
@WORKSPACE
@JSON
def check_cmd(workspace_dir, as_json):
    """Print the gate's verdict on the workspace's surface, check by check (paths, file types, limits,
    compile, start-up hooks, NVFlare contract, knobs), without building or running anything.
    Exit 0 when the gate passes, 1 when it refuses.

    \b
    Examples:
      afr-box check
      afr-box check --json
    """
    from afr_box.orchestrator.external.check import check_text, check_workspace
    from afr_box.orchestrator.external.workspace import open_workspace

    verdict = check_workspace(open_workspace(workspace_dir))
    if as_json:
        echo_json(verdict)
    else:
        click.echo(check_text(verdict))
    sys.exit(0 if verdict["ok"] else 1)


@click.command("status")
@WORKSPACE
@click.option("--campaign", "campaign_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="a campaign folder instead of a workspace's (e.g. a built-in agent's campaign)")
@click.option("--last", type=click.IntRange(1), default=10, show_default=True, help="recent rows to show")
@JSON
def status_cmd(workspace_dir, campaign_dir, last, as_json):
    """Best so far, recent rows, the plateau watchdog and the agent's token and cost totals of the
    workspace's campaign (or of a campaign folder).

    \b
    Examples:
      afr-box status
      afr-box status --json
      afr-box status --campaign runs/synthetic-claude-20261128-120000
    """
    from afr_box.orchestrator.external.status import campaign_folder_status, status_data, status_text
    from afr_box.orchestrator.external.workspace import open_workspace

    data = campaign_folder_status(campaign_dir, last) if campaign_dir else status_data(open_workspace(workspace_dir),
                                                                                      last)
    if as_json:
        echo_json(data)
    else:
        click.echo(status_text(data))


@click.group()
def literature():
    """Literature events of an external agent (non-scored rows with sources)."""


@literature.command("start")
@WORKSPACE
def literature_start_cmd(workspace_dir):
    """Start a literature event (its elapsed time is logged).

    \b
    Example:
      afr-box literature start
    """
    from afr_box.orchestrator.external.literature import literature_start
    from afr_box.orchestrator.external.workspace import open_workspace

    click.echo(literature_start(open_workspace(workspace_dir)))


@literature.command("finish")
@click.option("--source", "sources", multiple=True, required=True, help="a paper or URL used (repeatable)")
@click.option("-m", "--message", default="", help="what you take from them")
@WORKSPACE
def literature_finish_cmd(sources, message, workspace_dir):
    """Log the literature event as a `literature` row with its sources and elapsed time.

    \b
    Example:
      afr-box literature finish --source arXiv:1812.06127 -m "FedProx: proximal term for drift"
    """
    from afr_box.orchestrator.external.attempt import format_row
    from afr_box.orchestrator.external.literature import literature_finish
    from afr_box.orchestrator.external.workspace import open_workspace

    click.echo(format_row(literature_finish(open_workspace(workspace_dir), list(sources), message)))


@literature.command("log")
@WORKSPACE
def literature_log_cmd(workspace_dir):
    """List the campaign's literature events and their sources.

    \b
    Example:
      afr-box literature log
    """
    from afr_box.orchestrator.external.literature import literature_log
    from afr_box.orchestrator.external.workspace import open_workspace

    click.echo(literature_log(open_workspace(workspace_dir)))


COMMANDS = (workspace, check_cmd, try_cmd, status_cmd, literature)
