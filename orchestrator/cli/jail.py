"""`afr-box agent run|serve`: an external coding agent confined in its jail (orchestrator/external/jail.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from afr_box.orchestrator.cli.options import DATA_ROOT, RUNS_DIR, WORKSPACE, data_root_or_default

DRIVERS = ("claude-code", "codex", "script")


@click.group()
def agent():
    """External coding agents (Claude Code, Codex, any executable) confined in a jail that sees the
    workspace and nothing else of the host; they reach afr-box through a narrow channel."""


@agent.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("target")
@click.option("--driver", "driver_name", type=click.Choice(DRIVERS), required=True, help="which agent runs")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=Path("afr-workspace"), show_default=True,
              help="the workspace: reused when it is one (of TARGET), else created")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="a host name the egress proxy lets through (repeatable; `*.example.com` for subdomains); the "
                   "driver's API host is allowed unless --no-default-hosts")
@click.option("--no-default-hosts", is_flag=True, help="do not allow the driver's API host")
@click.option("--agent-bin", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="an executable to run as the driver's CLI (`claude`, `codex`) instead of the jail image's")
@click.option("--model", default=None, help="the agent CLI's --model")
@click.option("--max-turns", type=click.IntRange(1), default=200, show_default=True, help="claude-code's turn cap")
@click.option("--max-budget-usd", type=click.FloatRange(min=0, min_open=True), default=None,
              help="claude-code's cost cap")
@click.option("--timeout", "timeout_h", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True,
              help="the session's wall clock, in hours")
@click.option("--policy", default=None, help="for a new campaign: policy name (default: the profile's)")
@click.option("--name", default=None, help="for a new campaign: its name")
@click.option("--max-candidates", type=click.IntRange(1), default=None, help="for a new campaign: its candidate cap")
@RUNS_DIR
@DATA_ROOT
def agent_run(target, driver_name, extra, folder, allow_hosts, no_default_hosts, agent_bin, model, max_turns,
              max_budget_usd, timeout_h, policy, name, max_candidates, runs_dir, data_root):
    """Run an external coding agent on TARGET (a task, or a campaign folder) inside its jail: the
    workspace (surface/ writable, the rest read-only), its candidates' records read-only, the
    training data if the policy allows, and nothing else: no test data, no engine socket, no host
    home, not root, no network but the egress proxy's allow-list. Its `afr-box try|check|status|
    literature` are carried out by the host. Arguments after `--` go to the agent CLI (script: the
    executable and its arguments). Records: runs/<campaign>/agents/<session>/.

    \b
    Examples:
      afr-box agent run heart --driver claude-code --max-turns 200
      afr-box agent run heart --driver codex --model gpt-5-codex
      afr-box agent run synthetic --driver script --dir ws -- ./my-agent.sh
    """
    from afr_box.orchestrator.external.drivers import DriverOptions
    from afr_box.orchestrator.external.interrupt import Interrupted
    from afr_box.orchestrator.external.jail import AgentRun, run_agent

    run = AgentRun(target=target, driver=driver_name, workspace=folder, allow_hosts=tuple(allow_hosts),
                   default_hosts=not no_default_hosts, policy=policy, name=name, max_candidates=max_candidates,
                   runs_dir=runs_dir, data_root=data_root_or_default(data_root), agent_bin=agent_bin,
                   timeout_s=timeout_h * 3600,
                   options=DriverOptions(model=model, max_turns=max_turns, max_budget_usd=max_budget_usd,
                                         extra=tuple(extra)))
    try:
        session, record = run_agent(run, progress=lambda m: click.echo(m, err=True))
    except Interrupted as stop:
        click.secho(f"error: {stop}: the jail is removed (a try in flight was finished and logged)", fg="red",
                    err=True)
        sys.exit(stop.exit_code)
    click.echo(f"session {record.id}: exit {record.exit_code}{' (timed out)' if record.timed_out else ''}, "
               f"{record.wall_s:.0f} s, candidates {', '.join(record.candidates) or 'none'}; "
               f"requests {record.requests or {}}, egress {record.egress or {}}; records in {session}")
    sys.exit(0 if record.exit_code == 0 else 1)


@agent.command("serve")
@WORKSPACE
@click.option("--socket", "socket_path", type=click.Path(path_type=Path), required=True,
              help="the Unix socket to listen on (mount its folder into a jail at /run/afr)")
@click.option("--log", "log_path", type=click.Path(path_type=Path), default=None,
              help="the channel log (default: next to the socket)")
def agent_serve(workspace_dir, socket_path, log_path):
    """Serve the workspace's channel in the foreground (what `agent run` starts for its jail): only
    try, smoke, check, status and literature, each re-gated on this host. Stop with Ctrl-C.

    \b
    Example:
      afr-box agent serve --workspace ws --socket /tmp/afr-sock/channel.sock
    """
    from afr_box.orchestrator.external.serve import ChannelServer
    from afr_box.orchestrator.external.workspace import open_workspace

    ws = open_workspace(workspace_dir)
    server = ChannelServer(ws, socket_path, log_path or socket_path.with_suffix(".log"))
    click.echo(f"serving {ws.folder} on {socket_path}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


COMMANDS = (agent,)
