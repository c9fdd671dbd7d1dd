"""`afr-box replay`, `repeat`, `heldout`, `export`, `compare`, `report`: what a campaign found, checked."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from afr_box.orchestrator.cli.options import (CAMPAIGN_DIR, DATA_ROOT, JSON, RUNS_DIR, data_root_or_default,
                                              echo_json, id_list, seed_list)


@click.command()
@click.argument("campaign_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("candidate", required=False)
@click.option("--seed", type=int, default=None, help="rerun with another seed (default: the logged one)")
@click.option("--bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="replay a bundle made by `afr-box export` instead of a campaign folder")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="where a bundle is unpacked")
@DATA_ROOT
def replay(campaign_dir, candidate, seed, bundle, runs_dir, data_root):
    """Rerun a logged CANDIDATE from its image (rebuilt from base + snapshot if gone) and
    compare with the logged score; exit 0 only when they match (1 when they do not).

    \b
    Examples:
      afr-box replay runs/heart-hpo-20261128-120000 0003
      afr-box replay --bundle heart-0003.tar
    """
    if bundle is not None:
        if campaign_dir or candidate:
            raise click.UsageError("give either CAMPAIGN_DIR CANDIDATE or --bundle, not both")
        from afr_box.orchestrator.findings.bundle import unpack_bundle

        campaign_dir, candidate = unpack_bundle(bundle, runs_dir)
        click.echo(f"bundle verified (file hashes, surface hash, layer = snapshot); unpacked to {campaign_dir}")
    elif not (campaign_dir and candidate):
        raise click.UsageError("give CAMPAIGN_DIR and CANDIDATE (or --bundle FILE)")
    from afr_box.orchestrator.findings.replay import replay as run_replay

    result = run_replay(campaign_dir, candidate, data_root_or_default(data_root), seed)
    source = "image reused" if result.image_reused else "image rebuilt from base + snapshot"
    if result.base_changed:
        click.secho("notice: the recorded base image is gone; rebuilt on the current base "
                    "(harness changes may change the score)", fg="yellow", err=True)
    click.echo(f"candidate {result.candidate}: logged {result.logged_score!r}, replayed {result.replay_score!r} "
               f"({result.status}{': ' + result.reason if result.reason else ''}); {source}; {result.folder}")
    if seed is None and not result.match:
        click.secho("MISMATCH: the replay did not reproduce the logged score", fg="red", err=True)
        sys.exit(1)
    click.echo("match" if result.match else "different seed: scores not compared")


def _higher_is_better(campaign_dir: Path) -> bool:
    from afr_box.orchestrator.records.layout import CampaignFolder
    from afr_box.profiles.schema import load_profile

    return load_profile(CampaignFolder(campaign_dir).profile).metric.higher_is_better


@click.command()
@CAMPAIGN_DIR
@click.option("--candidates", default="baseline,best", show_default=True,
              help="comma-separated: baseline, best, or candidate ids")
@click.option("--seeds", default="42,43,44,45,46", show_default=True, help="comma-separated seeds")
@DATA_ROOT
def heldout(campaign_dir, candidates, seeds, data_root):
    """Score candidates on the held-out part of each site's evaluation set (never scored during
    the search), over seeds, and report whether the selected gain survives. Needs a campaign run
    with a profile that sets heldout_fraction. Resumable.

    \b
    Example:
      afr-box heldout runs/synthetic-hpo-20261128-120000 --candidates baseline,best
    """
    from afr_box.orchestrator.findings.repeats import run_repeats, select
    from afr_box.reports.campaign_report import write_report
    from afr_box.reports.findings import write_heldout_summary

    seed_values = seed_list(seeds)
    higher = _higher_is_better(campaign_dir)
    chosen = select(campaign_dir, id_list(candidates), 0, higher)
    run_repeats(campaign_dir, chosen, seed_values, data_root_or_default(data_root),
                progress=lambda m: click.echo(m, err=True), split="heldout")
    summary = write_heldout_summary(campaign_dir, higher)
    write_report(campaign_dir)
    click.echo(summary.read_text())


@click.command("export")
@CAMPAIGN_DIR
@click.argument("candidate")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="bundle file to write")
def export_cmd(campaign_dir, candidate, out):
    """Write a self-contained bundle of a logged CANDIDATE (its image layer, base reference,
    record and surface snapshot) that `afr-box replay --bundle` replays on another machine.

    \b
    Example:
      afr-box export runs/heart-hpo-20261128-120000 0003 -o heart-0003.tar
    """
    from afr_box.orchestrator.findings.bundle import export_bundle
    from afr_box.sandbox.providers import local_sandbox

    path = export_bundle(campaign_dir, candidate, out, local_sandbox().images)
    click.echo(f"wrote {path} ({path.stat().st_size} bytes)")


@click.command()
@CAMPAIGN_DIR
@click.option("--candidates", default="baseline,best", show_default=True,
              help="comma-separated: baseline, best and/or candidate ids")
@click.option("--seeds", default="42,43,44,45,46", show_default=True, help="comma-separated seeds")
@click.option("--top", type=click.IntRange(0), default=0, help="also repeat the top-k scored candidates")
@DATA_ROOT
def repeat(campaign_dir, candidates, seeds, top, data_root):
    """Rerun candidates' images over several seeds; write repeats.tsv and repeats.md with
    means, 95% intervals and paired differences to the baseline. Resumable.

    \b
    Examples:
      afr-box repeat runs/heart-hpo-20261128-120000 --candidates baseline,best --seeds 42,43,44,45,46
      afr-box repeat runs/heart-hpo-20261128-120000 --top 3
    """
    from afr_box.orchestrator.findings.repeats import run_repeats, select
    from afr_box.reports.campaign_report import write_report
    from afr_box.reports.findings import write_repeats_summary

    seed_values = seed_list(seeds)
    chosen = select(campaign_dir, id_list(candidates), top, _higher_is_better(campaign_dir))
    run_repeats(campaign_dir, chosen, seed_values, data_root_or_default(data_root),
                progress=lambda m: click.echo(m, err=True))
    summary = write_repeats_summary(campaign_dir)
    write_report(campaign_dir)  # the report's Repeats section and plot
    click.echo(summary.read_text())


@click.command()
@CAMPAIGN_DIR
def report(campaign_dir):
    """Re-render progress.png, report.md and report.html from a campaign folder.

    \b
    Example:
      afr-box report runs/heart-hpo-20261128-120000
    """
    from afr_box.reports.campaign_report import write_report

    click.echo(str(write_report(campaign_dir)))


@click.command("compare")
@click.argument("campaign_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="also write the table to this file")
@JSON
def compare_cmd(campaign_dirs, out, as_json):
    """Put campaigns of the same task side by side: policy, proposer, candidates, crashes,
    literature events, wall hours, baseline, best and repeat means.

    \b
    Examples:
      afr-box compare runs/heart-scalar runs/heart-open
      afr-box compare runs/heart-scalar runs/heart-open --json
    """
    from afr_box.reports.compare import compare, compare_rows

    if as_json:
        echo_json(compare_rows(list(campaign_dirs)))
        return
    text = compare(list(campaign_dirs))
    if out:
        out.write_text(text)
    click.echo(text)


COMMANDS = (replay, repeat, heldout, export_cmd, compare_cmd, report)
