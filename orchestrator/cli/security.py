"""`afr-box policy review|diff` and `afr-box audit`: what a policy opens, and whether a campaign holds up."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from afr_box.orchestrator.cli.options import CAMPAIGN_DIR, DATA_ROOT, JSON, data_root_or_default, echo_json
from afr_box.orchestrator.errors import CampaignError


@click.group()
def policy():
    """Review mutation-surface policies (what they open, and whether they hold under attack)."""


@policy.command("review")
@click.argument("policy_ref", metavar="POLICY")
@click.option("--task", "tasks", multiple=True, help="task(s) to resolve the surface for (default: all)")
@click.option("--attacks", is_flag=True, help="also run the attack suite against the policy (needs --task, one)")
@click.option("--suite", type=click.Path(path_type=Path), default=None, help="attack suite folder (default tests/attacks)")
@click.option("--only", default=None, help="comma-separated attack names (default: all)")
@click.option("--timeout", type=click.FloatRange(5), default=120.0, show_default=True,
              help="per-container wall-clock limit during the suite (the timeout attack waits this long)")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@DATA_ROOT
@JSON
def policy_review(policy_ref, tasks, attacks, suite, only, timeout, runs_dir, data_root, as_json):
    """Print what POLICY lets a candidate change and run; with --attacks, run the attack suite.

    Exits 1 when an attack is not blocked or the host changed.

    \b
    Examples:
      afr-box policy review architecture-open --task heart
      afr-box policy review architecture-open --task heart --attacks
    """
    from afr_box.security.attacks import default_suite
    from afr_box.security.policy_review import render, review
    from afr_box.security.suite import run_suite

    data = review(policy_ref, list(tasks) or None)
    results = None
    if attacks:
        if len(tasks) != 1:
            raise CampaignError("--attacks runs the suite on one task: add --task TASK (e.g. --task heart)")
        results = run_suite(policy_ref, tasks[0], suite or default_suite(), runs_dir, data_root_or_default(data_root),
                            timeout_s=timeout, only=only.split(",") if only else None,
                            say=(lambda m: click.echo(m, err=True)) if as_json else click.echo)
    if as_json:
        click.echo(json.dumps({**data, "attacks": results}, indent=2, default=str))
    else:
        click.echo("")
        click.echo(render(data, results))
    if results is not None and not results["ok"]:
        sys.exit(1)


@policy.command("diff")
@click.argument("policy_a")
@click.argument("policy_b")
@click.option("--task", "tasks", multiple=True, help="task(s) to compare surfaces on (default: all)")
def policy_diff(policy_a, policy_b, tasks):
    """Show what moving from POLICY_A to POLICY_B opens or closes.

    \b
    Example:
      afr-box policy diff scalar-hpo architecture-open
    """
    from afr_box.security.policy_diff import diff, render

    click.echo(render(diff(policy_a, policy_b, list(tasks) or None)))


@click.command()
@CAMPAIGN_DIR
@click.option("--no-images", is_flag=True, help="skip the image checks (no engine needed)")
@DATA_ROOT
@JSON
def audit(campaign_dir, no_images, data_root, as_json):
    """Re-verify a campaign: the results.tsv hash chain, rows against records, images and layers,
    and the prepared data re-hashed in full against its manifest.

    Exits 1 when anything does not match.

    \b
    Examples:
      afr-box audit runs/heart-hpo-20261128-120000
      afr-box audit runs/heart-hpo-20261128-120000 --no-images --json
      afr-box audit runs/camelyon-hpo-20261128-120000 --data-root /big/afr-data
    """
    from afr_box.security.audit import audit as run_audit

    images = None
    if not no_images:
        from afr_box.sandbox.providers import local_sandbox

        images = local_sandbox().images
    result = run_audit(campaign_dir, images, data_root_or_default(data_root))
    if as_json:
        echo_json({"campaign": str(result.campaign), "ok": result.ok, "rows": result.rows,
                   "images_checked": result.images_checked, "problems": result.problems, "notes": result.notes,
                   "summary": result.summary()})
    else:
        for line in result.problems:
            click.secho(f"PROBLEM  {line}", fg="red")
        for line in result.notes:
            click.echo(f"note     {line}")
        click.echo(result.summary())
    sys.exit(0 if result.ok else 1)


COMMANDS = (policy, audit)
