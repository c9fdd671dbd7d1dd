"""The `afr-box` command line."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from afr_box.orchestrator.data import data_status, default_data_root, how_to_get, prepare_task
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.proposers import PROPOSERS
from afr_box.profiles.schema import available_tasks, load_profile
from afr_box.profiles.yaml_models import ConfigError
from afr_box.sandbox.errors import SandboxError
from afr_box.tasks.shared.prepared import DataNotPreparedError
from afr_box.tasks.shared.sources import DataSourceError

DATA_ROOT = click.option("--data-root", type=click.Path(path_type=Path), default=None,
                         help="prepared data folder (default: $AFR_DATA_ROOT or ./afr-data)")


class FriendlyGroup(click.Group):
    """Turns the named, actionable errors into one clear line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (ConfigError, SandboxError, DataNotPreparedError, DataSourceError, CampaignError) as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=FriendlyGroup)
def main():
    """afr-box: Auto-FL-Research campaigns where every candidate is built into its own image
    and run in a hardened container, and a separate trusted scorer computes the score."""


@main.group()
def image():
    """Build the OS and base images."""


@image.command("os")
def image_os():
    """Make the local OS base image (debootstrap + import; needs root and no registry).

    Example: afr-box image os
    """
    from afr_box.sandbox.docker_provider import DockerProvider
    from afr_box.sandbox.images import make_os_image

    info = make_os_image(DockerProvider(), progress=lambda m: click.echo(m, err=True))
    click.echo(info.id)


@image.command("build")
@click.option("--base-image", default=None, help="OS/Python image to build on (default afr-os:bookworm, made if missing)")
@click.option("--force", is_flag=True, help="rebuild even if the image for this harness exists")
def image_build(base_image, force):
    """Build the base image (torch, NVFlare, the fixed harness) with no network.

    Example: afr-box image build
    """
    from afr_box.sandbox.docker_provider import DockerProvider
    from afr_box.sandbox.images import OS_IMAGE, build_base

    info = build_base(DockerProvider(), os_image=base_image or OS_IMAGE, force=force,
                      progress=lambda m: click.echo(m, err=True))
    click.echo(f"{info.tags[0] if info.tags else ''} {info.id}")


@main.group()
def data():
    """Prepare task data (test labels kept apart from test inputs)."""


@data.command("prepare")
@click.argument("task")
@click.option("--source", type=click.Path(path_type=Path), default=None, help="folder with the original files")
@click.option("--download", is_flag=True, help="download from the public source (checksummed)")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="a data option of the task's bridge (repeatable), e.g. weights=FILE for isic")
@DATA_ROOT
def data_prepare(task, source, download, options, data_root):
    """Verify and prepare TASK's data into DATA_ROOT/TASK.

    Examples:
      afr-box data prepare synthetic
      afr-box data prepare heart --source ../shared/data/flamby/fed_heart_disease
      afr-box data prepare tcga --source ../shared/data/flamby/fed_tcga_brca
    """
    profile = load_profile(task)
    extra = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--option")
        extra[key] = yaml.safe_load(value) if value else ""
    dest = prepare_task(profile, data_root or default_data_root(), source, download, extra)
    click.echo(f"prepared {task} at {dest}")


@main.command("tasks")
@DATA_ROOT
def tasks_cmd(data_root):
    """List tasks and whether their data is ready.

    Example: afr-box tasks
    """
    root = data_root or default_data_root()
    for task in available_tasks():
        profile = load_profile(task)
        status = data_status(profile, root)
        click.echo(f"{task:12} {status.split(' ')[0]:8} {profile.title}")
        if status != "ready":
            click.echo(f"{'':12} {'':8} get it: {how_to_get(profile)}")


@main.command()
@click.argument("task")
@click.option("--proposer", type=click.Choice(PROPOSERS), default="hpo", show_default=True)
@click.option("--snapshots", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="for --proposer snapshots: DIR/<name>/surface/... replayed in name order")
@click.option("--max-candidates", type=click.IntRange(1), default=8, show_default=True,
              help="candidates in all, the baseline (candidate 0) included")
@click.option("--policy", default=None, help="policy name or YAML path (default: the profile's)")
@click.option("--name", default=None, help="campaign name (default: TASK-PROPOSER-TIMESTAMP)")
@click.option("--resume", is_flag=True, help="continue an interrupted campaign given by --name")
@click.option("--seed", type=int, default=0, show_default=True, help="proposer seed")
@click.option("--parallel", type=click.IntRange(1), default=None,
              help="candidates at once, each on its own GPU or disjoint CPU set [default: 1; with --cluster: "
                   "the cluster's afr_slot total]")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@DATA_ROOT
@click.option("--quiet", is_flag=True)
@click.option("--model", default=None, help="for --proposer claude: the model (default claude-sonnet-4-6)")
@click.option("--max-tokens", type=click.IntRange(256, 20000), default=8192, show_default=True,
              help="for --proposer claude: max output tokens per request")
@click.option("--literature", type=click.Choice(["off", "knowledge", "web"]), default="knowledge", show_default=True,
              help="for --proposer claude, on a plateau: cite from its own knowledge, or search the web "
                   "(Anthropic's server-side web search tool)")
@click.option("--plateau", type=click.IntRange(0), default=None,
              help="plateau watchdog threshold (default: the profile's plateau_threshold; 0 = off)")
@click.option("--profile", "profile_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="a profile YAML for TASK (default profiles/TASK.yaml), e.g. one with heldout_fraction")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="run candidates on a Ray cluster: ray://HEAD:10001, HEAD:6379 or auto (README: Scale out)")
@click.option("--registry", default=None, metavar="HOST:PORT",
              help="with --cluster: the registry the nodes pull every image from, by digest")
def campaign(task, proposer, snapshots, max_candidates, policy, name, resume, seed, parallel, runs_dir, data_root,
             quiet, model, max_tokens, literature, plateau, profile_file, cluster, registry):
    """Run a campaign on TASK: every candidate gated, built, trained, inferred, scored, verified.

    Examples:
      afr-box campaign heart --proposer hpo --max-candidates 8
      afr-box campaign heart --name heart-a --resume
      afr-box campaign heart --parallel 2
      afr-box campaign heart --cluster ray://HEAD:10001 --registry HEAD:5000
      afr-box campaign synthetic --proposer claude --policy architecture-open --literature web
    """
    from afr_box.orchestrator.campaign import CampaignOptions, run_campaign
    from afr_box.orchestrator.progress import CampaignDisplay
    from afr_box.orchestrator.proposers.claude import DEFAULT_MODEL, ClaudeOptions

    if resume and not name:
        raise click.UsageError("--resume needs --name of the campaign to continue")
    if registry and not cluster:
        raise click.UsageError("--registry is for --cluster campaigns (a local campaign needs no registry)")
    if cluster:
        from afr_box.orchestrator.cluster import parse_address
        from afr_box.sandbox.registry import parse_registry

        parse_address(cluster)  # a malformed address fails here, before anything starts
        if not registry:
            raise click.UsageError("--cluster needs --registry HOST:PORT: nodes pull every image from it by digest")
        parse_registry(registry)
    opts = CampaignOptions(task=task, proposer=proposer, max_candidates=max_candidates, policy=policy, name=name,
                           resume=resume, runs_dir=runs_dir, data_root=data_root or default_data_root(), seed=seed,
                           snapshots=snapshots, parallel=parallel, plateau_threshold=plateau, profile=profile_file,
                           cluster=cluster, registry=registry,
                           agent=ClaudeOptions(model=model or DEFAULT_MODEL, max_tokens=max_tokens, literature=literature))
    folder = run_campaign(opts, CampaignDisplay(quiet=quiet))
    click.echo(str(folder))


@main.command()
@click.argument("task", default="heart")
@click.option("--reps", type=click.IntRange(1), default=3, show_default=True)
@click.option("--json-out", type=click.Path(path_type=Path), default=None, help="also write the figures as JSON")
@DATA_ROOT
def bench(task, reps, json_out, data_root):
    """Measure the sandbox's cost against the bare NVFlare run (medians, ratio, memory).

    Example: afr-box bench heart --reps 3
    """
    import json

    from afr_box.orchestrator.bench import format_bench, run_bench

    result = run_bench(task, reps, data_root or default_data_root(), progress=lambda m: click.echo(m, err=True))
    click.echo(format_bench(result))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


@main.command()
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
    compare with the logged score; exit 0 only when they match.

    Example: afr-box replay runs/heart-hpo-20261128-120000 0003
    Example: afr-box replay --bundle heart-0003.tar
    """
    if bundle is not None:
        if campaign_dir or candidate:
            raise click.UsageError("give either CAMPAIGN_DIR CANDIDATE or --bundle, not both")
        from afr_box.orchestrator.bundle import unpack_bundle

        campaign_dir, candidate = unpack_bundle(bundle, runs_dir)
        click.echo(f"bundle verified (file hashes, surface hash, layer = snapshot); unpacked to {campaign_dir}")
    elif not (campaign_dir and candidate):
        raise click.UsageError("give CAMPAIGN_DIR and CANDIDATE (or --bundle FILE)")
    from afr_box.orchestrator.replay import replay as run_replay

    result = run_replay(campaign_dir, candidate, data_root or default_data_root(), seed)
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


@main.command()
@click.argument("campaign_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--candidates", default="baseline,best", show_default=True,
              help="comma-separated: baseline, best, or candidate ids")
@click.option("--seeds", default="42,43,44,45,46", show_default=True, help="comma-separated seeds")
@DATA_ROOT
def heldout(campaign_dir, candidates, seeds, data_root):
    """Score candidates on the held-out part of each site's evaluation set (never scored during
    the search), over seeds, and report whether the selected gain survives. Needs a campaign run
    with a profile that sets heldout_fraction. Resumable.

    Example: afr-box heldout runs/synthetic-hpo-20261128-120000 --candidates baseline,best
    """
    import yaml

    from afr_box.orchestrator.heldout import write_summary as write_heldout
    from afr_box.orchestrator.repeats import run_repeats, select
    from afr_box.reports.campaign_report import write_report

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"seeds must be integers, got {seeds!r}", param_hint="--seeds") from None
    higher = yaml.safe_load((campaign_dir / "profile.yaml").read_text())["metric"]["higher_is_better"]
    chosen = select(campaign_dir, [c.strip() for c in candidates.split(",") if c.strip()], 0, higher)
    run_repeats(campaign_dir, chosen, seed_list, data_root or default_data_root(),
                progress=lambda m: click.echo(m, err=True), split="heldout")
    summary = write_heldout(campaign_dir, higher)
    write_report(campaign_dir)
    click.echo(summary.read_text())


@main.command("export")
@click.argument("campaign_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("candidate")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="bundle file to write")
def export_cmd(campaign_dir, candidate, out):
    """Write a self-contained bundle of a logged CANDIDATE (its image layer, base reference,
    record and surface snapshot) that `afr-box replay --bundle` replays on another machine.

    Example: afr-box export runs/heart-hpo-20261128-120000 0003 -o heart-0003.tar
    """
    from afr_box.orchestrator.bundle import export_bundle
    from afr_box.sandbox.docker_provider import DockerProvider

    path = export_bundle(campaign_dir, candidate, out, DockerProvider())
    click.echo(f"wrote {path} ({path.stat().st_size} bytes)")


@main.command()
@click.argument("campaign_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--candidates", default="baseline,best", show_default=True,
              help="comma-separated: baseline, best and/or candidate ids")
@click.option("--seeds", default="42,43,44,45,46", show_default=True, help="comma-separated seeds")
@click.option("--top", type=click.IntRange(0), default=0, help="also repeat the top-k scored candidates")
@DATA_ROOT
def repeat(campaign_dir, candidates, seeds, top, data_root):
    """Rerun candidates' images over several seeds; write repeats.tsv and repeats.md with
    means, 95% intervals and paired differences to the baseline. Resumable.

    Example: afr-box repeat runs/heart-hpo-20261128-120000 --candidates baseline,best --seeds 42,43,44,45,46
    """
    import yaml

    from afr_box.orchestrator.repeats import run_repeats, select, write_summary
    from afr_box.reports.campaign_report import write_report

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"seeds must be integers, got {seeds!r}", param_hint="--seeds") from None
    profile = yaml.safe_load((campaign_dir / "profile.yaml").read_text())
    chosen = select(campaign_dir, [c.strip() for c in candidates.split(",") if c.strip()], top,
                    profile["metric"]["higher_is_better"])
    run_repeats(campaign_dir, chosen, seed_list, data_root or default_data_root(),
                progress=lambda m: click.echo(m, err=True))
    summary = write_summary(campaign_dir)
    write_report(campaign_dir)  # the report's Repeats section and plot
    click.echo(summary.read_text())


@main.command()
@click.argument("campaign_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(campaign_dir):
    """Re-render progress.png and report.md from a campaign folder.

    Example: afr-box report runs/heart-hpo-20261128-120000
    """
    from afr_box.reports.campaign_report import write_report

    click.echo(str(write_report(campaign_dir)))


@main.command()
@click.option("--campaign", default=None, help="only this campaign's containers")
@click.option("--images", is_flag=True, help="also remove candidate images (afr-cand:*)")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="clean every node of this Ray cluster (one cleanup task per node) instead of this engine")
def clean(campaign, images, cluster):
    """Remove containers left by afr-box (and optionally candidate images).

    Example: afr-box clean --images
    Example: afr-box clean --cluster ray://HEAD:10001 --campaign heart-a
    """
    # Every afr-box container carries afr.campaign; without --campaign, any value matches.
    labels = {"afr.campaign": campaign}
    if cluster:
        from afr_box.orchestrator import cluster as ray_cluster

        connected = ray_cluster.connect(cluster)
        try:
            for answer in ray_cluster.clean(labels):
                click.echo(f"{ray_cluster.node_name(answer)}: removed {answer['removed']} container(s)")
        finally:
            if connected:
                ray_cluster.disconnect()
        if images:
            click.echo("--images applies to this engine only; candidate images on the nodes stay cached")
        return
    from afr_box.sandbox.docker_provider import DockerProvider

    provider = DockerProvider()
    n = provider.remove_containers(labels)
    click.echo(f"removed {n} container(s)")
    if images:
        removed = provider.remove_images({"afr.kind": "candidate"})
        click.echo(f"removed {removed} candidate image(s)")


@main.command("compare")
@click.argument("campaign_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="also write the table to this file")
def compare_cmd(campaign_dirs, out):
    """Put campaigns of the same task side by side: policy, proposer, candidates, crashes,
    literature events, wall hours, baseline, best and repeat means.

    Example: afr-box compare runs/heart-scalar runs/heart-open
    """
    from afr_box.reports.compare import compare

    text = compare(list(campaign_dirs))
    if out:
        out.write_text(text)
    click.echo(text)


@main.group()
def policy():
    """Review mutation-surface policies (what they open, and whether they hold under attack)."""


@policy.command("review")
@click.argument("policy_ref", metavar="POLICY")
@click.option("--task", "tasks", multiple=True, help="task(s) to resolve the surface for (default: all)")
@click.option("--attacks", is_flag=True, help="also run the attack suite against the policy (needs --task, one)")
@click.option("--suite", type=click.Path(path_type=Path), default=None, help="attack suite folder (default tests/attacks)")
@click.option("--only", default=None, help="comma-separated attack names (default: all)")
@click.option("--timeout", type=click.FloatRange(5), default=60.0, show_default=True,
              help="per-container wall-clock limit during the suite (the timeout attack waits this long)")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@DATA_ROOT
@click.option("--json", "as_json", is_flag=True, help="print the review as JSON")
def policy_review(policy_ref, tasks, attacks, suite, only, timeout, runs_dir, data_root, as_json):
    """Print what POLICY lets a candidate change and run; with --attacks, run the attack suite.

    Exits 1 when an attack is not blocked or the host changed.

    Example: afr-box policy review architecture-open --task heart --attacks
    """
    import json

    from afr_box.security.attacks import AttackSuiteError, default_suite
    from afr_box.security.policy_review import render, review
    from afr_box.security.suite import SuiteError, run_suite

    data = review(policy_ref, list(tasks) or None)
    results = None
    if attacks:
        if len(tasks) != 1:
            raise CampaignError("--attacks runs the suite on one task: add --task TASK (e.g. --task heart)")
        try:
            results = run_suite(policy_ref, tasks[0], suite or default_suite(), runs_dir, data_root or default_data_root(),
                                timeout_s=timeout, only=only.split(",") if only else None,
                                say=(lambda m: click.echo(m, err=True)) if as_json else click.echo)
        except (AttackSuiteError, SuiteError) as exc:
            raise CampaignError(str(exc)) from None
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

    Example: afr-box policy diff scalar-hpo architecture-open
    """
    from afr_box.security.policy_diff import diff, render

    click.echo(render(diff(policy_a, policy_b, list(tasks) or None)))


@main.command()
@click.argument("campaign_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-images", is_flag=True, help="skip the image checks (no engine needed)")
def audit(campaign_dir, no_images):
    """Re-verify a campaign: the results.tsv hash chain, rows against records, images and layers.

    Exits 1 when anything does not match.

    Example: afr-box audit runs/heart-hpo-20261128-120000
    """
    from afr_box.security.audit import audit as run_audit

    provider = None
    if not no_images:
        from afr_box.sandbox.docker_provider import DockerProvider
        provider = DockerProvider()
    result = run_audit(campaign_dir, provider)
    for line in result.problems:
        click.secho(f"PROBLEM  {line}", fg="red")
    for line in result.notes:
        click.echo(f"note     {line}")
    click.echo(result.summary())
    sys.exit(0 if result.ok else 1)


# --------------------------------------------------------------------------- external coding-agent mode

WORKSPACE = click.option("--workspace", "workspace_dir", type=click.Path(path_type=Path), default=Path("."),
                         show_default=True, help="the afr-box workspace folder")


@main.group()
def workspace():
    """Workspaces for external coding agents (Claude Code, Codex, ...)."""


@workspace.command("init")
@click.argument("target")
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=Path("afr-workspace"), show_default=True,
              help="the workspace folder to create")
@click.option("--policy", default=None, help="for a new campaign: policy name (default: the profile's)")
@click.option("--name", default=None, help="for a new campaign: its name (default: TASK-external-TIMESTAMP)")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@DATA_ROOT
def workspace_init(target, folder, policy, name, runs_dir, data_root):
    """Create a workspace on a new campaign of task TARGET, or on the campaign folder TARGET:
    surface/ (the files the agent edits), AGENTS.md and CLAUDE.md (its program).

    Examples:
      afr-box workspace init synthetic --policy architecture-open --dir ws
      afr-box workspace init runs/synthetic-external-20261128-120000 --dir ws2
    """
    from afr_box.orchestrator.external import init_workspace

    ws = init_workspace(target, folder, data_root or default_data_root(), policy, name, runs_dir)
    click.echo(f"workspace {ws.folder} on campaign {ws.campaign_dir}\n"
               f"edit {ws.surface}/..., then: cd {ws.folder} && afr-box try -m \"what changed and why\"")


@workspace.command("reset")
@WORKSPACE
@click.option("--candidate", default=None, help="take this candidate's surface (default: the best kept one)")
def workspace_reset(workspace_dir, candidate):
    """Put the best kept surface (or a given candidate's) back into the workspace.

    Example: afr-box workspace reset
    """
    from afr_box.orchestrator.external import best_surface, open_workspace

    ws = open_workspace(workspace_dir)
    profile, policy, _ = ws.profile_policy()
    click.echo(f"surface reset from {candidate or 'the best kept candidate'}: {best_surface(ws, profile, policy, candidate)}")


@main.command("try")
@click.option("-m", "--message", required=True, help="one line: what changed and why")
@click.option("--source", "sources", multiple=True, help="a paper or URL the idea comes from (repeatable)")
@WORKSPACE
def try_cmd(message, sources, workspace_dir):
    """Run the workspace's surface as the campaign's next candidate (gate, build, train, infer,
    score, verify, review) and print its row. The baseline runs first if it is not logged yet.

    Example: afr-box try -m "client: FedProx proximal term mu=0.01" --source arXiv:1812.06127
    """
    from afr_box.orchestrator.external import format_row, open_workspace, plateau, try_workspace

    ws = open_workspace(workspace_dir)
    rows = try_workspace(ws, message, list(sources), progress=lambda m: click.echo(m, err=True))
    for row in rows:
        click.echo(format_row(row) + "\n")
    state = plateau(ws)
    click.echo(state.describe())
    if state.fired:
        click.echo("literature mode: `afr-box literature start`, read, `afr-box literature finish --source ... -m ...`, "
                   "then `afr-box try --source ...`")


@main.command("status")
@WORKSPACE
@click.option("--last", type=click.IntRange(1), default=10, show_default=True, help="recent rows to show")
def status_cmd(workspace_dir, last):
    """Best so far, recent rows and the plateau watchdog of the workspace's campaign.

    Example: afr-box status
    """
    from afr_box.orchestrator.external import open_workspace, status_text

    click.echo(status_text(open_workspace(workspace_dir), last))


@main.group()
def literature():
    """Literature events of an external agent (non-scored rows with sources)."""


@literature.command("start")
@WORKSPACE
def literature_start_cmd(workspace_dir):
    """Start a literature event (its elapsed time is logged).

    Example: afr-box literature start
    """
    from afr_box.orchestrator.external import literature_start, open_workspace

    click.echo(literature_start(open_workspace(workspace_dir)))


@literature.command("finish")
@click.option("--source", "sources", multiple=True, required=True, help="a paper or URL used (repeatable)")
@click.option("-m", "--message", default="", help="what you take from them")
@WORKSPACE
def literature_finish_cmd(sources, message, workspace_dir):
    """Log the literature event as a `literature` row with its sources and elapsed time.

    Example: afr-box literature finish --source arXiv:1812.06127 -m "FedProx: proximal term for drift"
    """
    from afr_box.orchestrator.external import format_row, literature_finish, open_workspace

    click.echo(format_row(literature_finish(open_workspace(workspace_dir), list(sources), message)))


@literature.command("log")
@WORKSPACE
def literature_log_cmd(workspace_dir):
    """List the campaign's literature events and their sources.

    Example: afr-box literature log
    """
    from afr_box.orchestrator.external import literature_log, open_workspace

    click.echo(literature_log(open_workspace(workspace_dir)))


if __name__ == "__main__":
    main()
