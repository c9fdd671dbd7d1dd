"""The `afr-box` command line: one module per command group.

    cli/setup.py      image, data, tasks          the base image and the prepared data
    cli/campaign.py   campaign, bench, clean      running candidates
    cli/findings.py   replay, repeat, heldout, export, export-tracking, compare, report
    cli/security.py   policy review|diff, audit
    cli/external.py   workspace, check, try, status, literature   (external coding agents)
    cli/jail.py       agent run|serve     an external agent confined in its jail

Exit codes: 0 ok; 1 a check failed (a replay that does not reproduce its score, an audit with
problems, an attack not blocked); 2 bad input or a missing prerequisite, said in one line.
"""
from __future__ import annotations

import sys

import click

from afr_box.orchestrator.campaign.logs import verbose
from afr_box.tasks.shared.errors import AfrError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class FriendlyGroup(click.Group):
    """Turns every AfrError (a named, actionable error) into one clear line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AfrError as exc:
            first, *rest = str(exc).splitlines() or [type(exc).__name__]
            click.secho(f"error: {first}", fg="red", err=True)
            for line in rest:  # a multi-problem error (a preflight) keeps one problem per line
                click.echo(f"  {line.strip()}", err=True)
            sys.exit(EXIT_BAD_INPUT)


@click.group(cls=FriendlyGroup)
@click.option("-v", "--verbose", "is_verbose", is_flag=True,
              help="print the log (what is also written to runs/<campaign>/campaign.log) to stderr")
def main(is_verbose):
    """afr-box: Auto-FL-Research campaigns where every candidate is built into its own image
    and run in hardened containers, and a separate trusted scorer computes the score.

    Exit codes: 0 ok, 1 a check failed, 2 bad input (one line says what to fix).
    """
    verbose(is_verbose)


def _register() -> None:
    from afr_box.orchestrator.cli import campaign, external, findings, jail, security, setup

    for module in (setup, campaign, findings, security, external, jail):
        for command in module.COMMANDS:
            main.add_command(command)


_register()

if __name__ == "__main__":
    main()
