"""`afr-box campaign`, `afr-box bench`, `afr-box clean`: running candidates and cleaning up after them."""
from __future__ import annotations

import json
from pathlib import Path

import click

from afr_box.orchestrator.cli.options import DATA_ROOT, RUNS_DIR, data_root_or_default
from afr_box.orchestrator.proposers import PROPOSERS


@click.command()
@click.argument("task")
@click.option("--proposer", type=click.Choice(PROPOSERS), default=None,
              help="who proposes candidates [default: hpo; on --resume: the campaign's]")
@click.option("--snapshots", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="for --proposer snapshots: DIR/<name>/surface/... replayed in name order")
@click.option("--max-candidates", type=click.IntRange(1), default=None,
              help="candidates in all, the baseline (candidate 0) included [default: 8; on --resume: the campaign's]")
@click.option("--policy", default=None, help="policy name or YAML path (default: the profile's)")
@click.option("--name", default=None, help="campaign name (default: TASK-PROPOSER-TIMESTAMP)")
@click.option("--resume", is_flag=True, help="continue an interrupted campaign given by --name")
@click.option("--force", is_flag=True,
              help="with --resume: continue with a changed --proposer, --seed, --max-candidates or --model")
@click.option("--seed", type=int, default=None, help="proposer seed [default: 0; on --resume: the campaign's]")
@click.option("--parallel", type=click.IntRange(1), default=None,
              help="candidates at once, each on its own GPU or disjoint CPU set [default: 1; with --cluster: "
                   "the cluster's afr_slot total]")
@RUNS_DIR
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
def campaign(task, proposer, snapshots, max_candidates, policy, name, resume, force, seed, parallel, runs_dir,
             data_root, quiet, model, max_tokens, literature, plateau, profile_file, cluster, registry):
    """Run a campaign on TASK: every candidate gated, built, trained, inferred, scored, verified.

    \b
    Examples:
      afr-box campaign heart --proposer hpo --max-candidates 8
      afr-box campaign heart --name heart-a --resume
      afr-box campaign heart --parallel 2
      afr-box campaign heart --cluster ray://HEAD:10001 --registry HEAD:5000
      afr-box campaign synthetic --proposer claude --policy architecture-open --literature web
    """
    from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
    from afr_box.orchestrator.campaign.progress import CampaignDisplay
    from afr_box.orchestrator.proposers.agent.claude import DEFAULT_MODEL, ClaudeOptions

    if resume and not name:
        raise click.UsageError("--resume needs --name of the campaign to continue")
    if force and not resume:
        raise click.UsageError("--force is for --resume (continue a campaign with changed settings)")
    if snapshots and proposer not in (None, "snapshots"):
        raise click.UsageError("--snapshots is for --proposer snapshots")
    if registry and not cluster:
        raise click.UsageError("--registry is for --cluster campaigns (a local campaign needs no registry)")
    if cluster:
        from afr_box.orchestrator.campaign.cluster import parse_address
        from afr_box.sandbox.registry import parse_registry

        parse_address(cluster)  # a malformed address fails here, before anything starts
        if not registry:
            raise click.UsageError("--cluster needs --registry HOST:PORT: nodes pull every image from it by digest")
        parse_registry(registry)
    agent = ClaudeOptions(model=model or DEFAULT_MODEL, max_tokens=max_tokens, literature=literature)
    if resume and model is None:
        agent = ClaudeOptions(model=None, max_tokens=max_tokens, literature=literature)  # the campaign's model
    opts = CampaignOptions(task=task, proposer=proposer, max_candidates=max_candidates, policy=policy, name=name,
                           resume=resume, force=force, runs_dir=runs_dir, data_root=data_root_or_default(data_root),
                           seed=seed, snapshots=snapshots, parallel=parallel, plateau_threshold=plateau,
                           profile=profile_file, cluster=cluster, registry=registry, agent=agent)
    folder = run_campaign(opts, CampaignDisplay(quiet=quiet))
    click.echo(str(folder))


@click.command()
@click.argument("task", default="heart")
@click.option("--reps", type=click.IntRange(1), default=3, show_default=True)
@click.option("--json-out", type=click.Path(path_type=Path), default=None, help="also write the figures as JSON")
@DATA_ROOT
def bench(task, reps, json_out, data_root):
    """Measure the sandbox's cost against the bare NVFlare run (medians, ratio, memory).

    \b
    Example:
      afr-box bench heart --reps 3
    """
    from afr_box.orchestrator.pipeline.bench import format_bench, run_bench

    result = run_bench(task, reps, data_root_or_default(data_root), progress=lambda m: click.echo(m, err=True))
    click.echo(format_bench(result))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


@click.command()
@click.option("--campaign", default=None, help="only this campaign's containers")
@click.option("--images", is_flag=True, help="also remove candidate images (afr-cand:*)")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="clean every node of this Ray cluster (one cleanup task per node) instead of this engine")
def clean(campaign, images, cluster):
    """Remove containers left by afr-box (and optionally candidate images).

    \b
    Examples:
      afr-box clean --images
      afr-box clean --cluster ray://HEAD:10001 --campaign heart-a
    """
    # Every afr-box container carries afr.campaign; without --campaign, any value matches.
    labels = {"afr.campaign": campaign}
    if cluster:
        from afr_box.orchestrator.campaign import cluster as ray_cluster

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
    from afr_box.sandbox.providers import local_sandbox

    sandbox = local_sandbox()
    n = sandbox.executor.remove_containers(labels)
    click.echo(f"removed {n} container(s)")
    if images:
        removed = sandbox.images.remove_images({"afr.kind": "candidate"})
        click.echo(f"removed {removed} candidate image(s)")


COMMANDS = (campaign, bench, clean)
