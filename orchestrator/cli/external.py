"""`afr-box workspace`, `try`, `status`, `literature`: the commands an external coding agent runs."""
from __future__ import annotations

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
@RUNS_DIR
@DATA_ROOT
def workspace_init(target, folder, policy, name, runs_dir, data_root):
    """Create a workspace on a new campaign of task TARGET, or on the campaign folder TARGET:
    surface/ (the files the agent edits), AGENTS.md and CLAUDE.md (its program).

    \b
    Examples:
      afr-box workspace init synthetic --policy architecture-open --dir ws
      afr-box workspace init runs/synthetic-external-20261128-120000 --dir ws2
    """
    from afr_box.orchestrator.external.workspace import init_workspace

    ws = init_workspace(target, folder, data_root_or_default(data_root), policy, name, runs_dir)
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
@click.option("-m", "--message", required=True, help="one line: what changed and why")
@click.option("--source", "sources", multiple=True, help="a paper or URL the idea comes from (repeatable)")
@WORKSPACE
def try_cmd(message, sources, workspace_dir):
    """Run the workspace's surface as the campaign's next candidate (gate, build, train, infer,
    score, verify, review) and print its row. The baseline runs first if it is not logged yet.

    \b
    Example:
      afr-box try -m "client: FedProx proximal term mu=0.01" --source arXiv:1812.06127
    """
    from afr_box.orchestrator.external.attempt import format_row, try_workspace
    from afr_box.orchestrator.external.status import plateau
    from afr_box.orchestrator.external.workspace import open_workspace

    ws = open_workspace(workspace_dir)
    rows = try_workspace(ws, message, list(sources), progress=lambda m: click.echo(m, err=True))
    for row in rows:
        click.echo(format_row(row) + "\n")
    state = plateau(ws)
    click.echo(state.describe())
    if state.fired:
        click.echo("literature mode: `afr-box literature start`, read, `afr-box literature finish --source ... -m ...`, "
                   "then `afr-box try --source ...`")


@click.command("status")
@WORKSPACE
@click.option("--last", type=click.IntRange(1), default=10, show_default=True, help="recent rows to show")
@JSON
def status_cmd(workspace_dir, last, as_json):
    """Best so far, recent rows and the plateau watchdog of the workspace's campaign.

    \b
    Examples:
      afr-box status
      afr-box status --json
    """
    from afr_box.orchestrator.external.status import status_data, status_text
    from afr_box.orchestrator.external.workspace import open_workspace

    ws = open_workspace(workspace_dir)
    if as_json:
        echo_json(status_data(ws, last))
    else:
        click.echo(status_text(ws, last))


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


COMMANDS = (workspace, try_cmd, status_cmd, literature)
