"""`afr-box replay`, `repeat`, `heldout`, `finish`, `summary`, `export`, `export-tracking`, `compare`,
`report`: what a campaign found, checked, and handed on."""
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
    means, 95% intervals, paired differences to the baseline and a warning for a candidate whose
    weights are identical across seeds (a hard-coded seed) or whose scores are identical while its
    weights differ. Resumable.

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
@click.option("--top", type=click.IntRange(0), default=3, show_default=True,
              help="also repeat the top-k scored candidates (besides baseline and best)")
@click.option("--seeds", default="42,43,44,45,46", show_default=True, help="comma-separated seeds")
@click.option("--control", "controls", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="a finished control campaign of the same task (repeatable): a robust gain it reaches is "
                   "labelled 'recovered by scalar control'")
@click.option("--parallel", type=click.IntRange(1), default=1, show_default=True,
              help="runs at once, each on its own GPU or disjoint CPU set")
@DATA_ROOT
def finish(campaign_dir, top, seeds, controls, parallel, data_root):
    """Finish a campaign: repeat baseline, best and top-k over seeds, score each repeat on the
    held-out part and the whole test set too, label every finding (robust repeated gain,
    seed-sensitive, selected artifact, held-out false positive, recovered by scalar control);
    write findings.json and findings.md, and the report. Resumable.

    \b
    Examples:
      afr-box finish runs/heart-optuna-tpe-20261128-120000
      afr-box finish runs/heart-open --top 3 --seeds 42,43,44,45,46 --control runs/heart-tpe --parallel 2
    """
    from afr_box.orchestrator.findings.finish import finish as run_finish
    from afr_box.reports.campaign_report import write_report
    from afr_box.reports.findings import findings_markdown

    run_finish(campaign_dir, data_root_or_default(data_root), seed_list(seeds), top, parallel, tuple(controls),
               progress=lambda m: click.echo(m, err=True))
    write_report(campaign_dir)
    click.echo(findings_markdown(campaign_dir))


@click.command()
@click.argument("campaign_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/summary"),
              show_default=True, help="folder for summary.md, summary.csv, summary.html and relative-gain.png")
def summary(campaign_dirs, out):
    """Paper-style tables across campaigns: Table III (candidates, crashes, literature events,
    min/candidate, wall hours), Tables IV/V (baseline and selected repeats, absolute and relative
    gain, external target and source, interpretation) and a Fig. 3-style relative-gain chart.

    \b
    Example:
      afr-box summary runs/heart-random runs/heart-tpe runs/heart-open runs/heart-baseline --out runs/summary
    """
    from afr_box.reports.summary import write_summary

    click.echo(write_summary(list(campaign_dirs), out).read_text())


@click.command()
@CAMPAIGN_DIR
@click.option("--curves", default="", help="comma-separated candidate ids whose per-round curves to draw "
              "beside the baseline's and the best's (rounds.png)")
@click.option("--y-min", type=float, default=None, help="progress.png: lower end of the y-axis (default: robust range)")
@click.option("--y-max", type=float, default=None, help="progress.png: upper end of the y-axis (default: robust range)")
def report(campaign_dir, curves, y_min, y_max):
    """Re-render progress.png, rounds.png, report.md and report.html from a campaign folder.

    \b
    Examples:
      afr-box report runs/heart-hpo-20261128-120000
      afr-box report runs/femnist-hpo-20261128-120000 --y-min 0.55 --y-max 0.70
      afr-box report runs/heart-hpo-20261128-120000 --curves 0003,0007
    """
    from afr_box.reports.campaign_report import write_report

    if y_min is not None and y_max is not None and y_min >= y_max:
        raise click.BadParameter(f"--y-min {y_min} must be below --y-max {y_max}", param_hint="--y-min")
    click.echo(str(write_report(campaign_dir, id_list(curves), y_min, y_max)))


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


@click.command("export-tracking")
@CAMPAIGN_DIR
@click.option("--mlflow", "mlflow_uri", default=None,
              help="MLflow tracking URI, or a folder for a local file store (needs the mlflow extra)")
@click.option("--tensorboard", "tb_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="a TensorBoard log folder (needs the tensorboard extra)")
@click.option("--experiment", default="", help="MLflow experiment name (default: the campaign's name)")
def export_tracking(campaign_dir, mlflow_uri, tb_dir, experiment):
    """Export a campaign's records to an experiment tracker: one run per candidate with params
    (knobs), metrics (score, per-client, per-round), tags (status, mechanism, image id) and
    artifacts (diff, record; the report on a parent run). Reads the records only.

    \b
    Examples:
      afr-box export-tracking runs/heart-hpo-20261128-120000 --mlflow mlruns
      afr-box export-tracking runs/heart-hpo-20261128-120000 --mlflow http://mlflow.lab:5000
      afr-box export-tracking runs/heart-hpo-20261128-120000 --tensorboard tb-logs
    """
    from afr_box.reports.tracking import export_mlflow, export_tensorboard

    if (mlflow_uri is None) == (tb_dir is None):
        raise click.UsageError("give one of --mlflow URI or --tensorboard DIR")
    if mlflow_uri is not None:
        done = export_mlflow(campaign_dir, mlflow_uri, experiment)
        click.echo(f"MLflow {done['uri']}: experiment {done['experiment_id']}, {len(done['exported'])} run(s) "
                   f"exported, {len(done['skipped'])} already there")
    else:
        done = export_tensorboard(campaign_dir, tb_dir)
        click.echo(f"TensorBoard: {len(done['exported'])} run(s) in {done['logdir']} (tensorboard --logdir {tb_dir})")


COMMANDS = (replay, repeat, heldout, finish, summary, export_cmd, export_tracking, compare_cmd, report)
