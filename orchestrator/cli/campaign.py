"""`afr-box campaign`, `afr-box bench`, `afr-box clean`: running candidates and cleaning up after them."""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from afr_box.orchestrator.cli.options import DATA_ROOT, JSON, RUNS_DIR, data_root_or_default, echo_json
from afr_box.orchestrator.proposers import PROPOSERS
from afr_box.orchestrator.proposers.optuna_search import SAMPLERS


@click.command()
@click.argument("task")
@click.option("--proposer", type=click.Choice(PROPOSERS), default=None,
              help="who proposes candidates [default: hpo; on --resume: the campaign's]")
@click.option("--sampler", type=click.Choice(SAMPLERS), default=None,
              help="for --proposer optuna: Optuna's sampler [default: tpe; on --resume: the campaign's]")
@click.option("--snapshots", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="for --proposer snapshots: DIR/<name>/surface/... replayed in name order")
@click.option("--max-candidates", type=click.IntRange(1), default=None,
              help="candidates in all, the baseline (candidate 0) included [default: 8; on --resume: the campaign's]")
@click.option("--policy", default=None, help="policy name or YAML path (default: the profile's)")
@click.option("--name", default=None, help="campaign name (default: TASK-PROPOSER-TIMESTAMP)")
@click.option("--resume", is_flag=True, help="continue an interrupted campaign given by --name")
@click.option("--force", is_flag=True,
              help="with --resume: continue with a changed --proposer, --sampler, --seed, --max-candidates or --model")
@click.option("--seed", type=int, default=None, help="proposer seed [default: 0; on --resume: the campaign's]")
@click.option("--parallel", type=click.IntRange(1), default=None,
              help="candidates at once, each on its own GPU or disjoint CPU set [default: 1; with --cluster: "
                   "the cluster's afr_slot total]")
@RUNS_DIR
@DATA_ROOT
@click.option("--quiet", is_flag=True)
@click.option("--model", default=None,
              help="for an agent proposer: the model [default: claude-sonnet-4-6 (claude), gpt-4.1 (openai); on "
                   "--resume: the campaign's]")
@click.option("--base-url", default=None, metavar="URL",
              help="for an agent proposer: the API's base URL: a gateway, or an OpenAI-compatible server for "
                   "--proposer openai (vLLM, Ollama) [default: ANTHROPIC_BASE_URL / OPENAI_BASE_URL, else the "
                   "provider's own]")
@click.option("--max-tokens", type=click.IntRange(256, 20000), default=8192, show_default=True,
              help="for an agent proposer: max output tokens per request")
@click.option("--thinking", is_flag=True, help="for --proposer claude: adaptive thinking (thinking blocks are kept "
                                               "in the transcript)")
@click.option("--max-cost-usd", type=click.FloatRange(0, min_open=True), default=None,
              help="for an agent proposer: stop proposing once the agent's estimated spend in this campaign reaches "
                   "this (list prices, prices.yaml); the row that hits it says so")
@click.option("--max-candidate-tokens", type=click.IntRange(1000), default=None,
              help="for an agent proposer: one candidate's conversation may use at most this many tokens (in, out "
                   "and cached); past it the proposal ends as a crash row")
@click.option("--literature", type=click.Choice(["off", "knowledge", "web"]), default="knowledge", show_default=True,
              help="for an agent proposer, on a plateau: cite from its own knowledge, or search the web "
                   "(--proposer claude: Anthropic's server-side web search tool)")
@click.option("--plateau", type=click.IntRange(0), default=None,
              help="plateau watchdog threshold (default: the profile's plateau_threshold; 0 = off)")
@click.option("--profile", "profile_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="a profile YAML for TASK (default profiles/TASK.yaml), e.g. one with heldout_fraction")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="run candidates on a Ray cluster: ray://HEAD:10001, HEAD:6379 or auto (README: Scale out)")
@click.option("--registry", default=None, metavar="HOST:PORT",
              help="with --cluster: the registry the nodes pull every image from, by digest")
@click.option("--finish", "then_finish", is_flag=True,
              help="then finish it (`afr-box finish`: baseline, best and top 3 over seeds 42-46, held-out too)")
@click.option("--verify-data", type=click.Choice(["identity", "full"]), default="identity", show_default=True,
              help="the data check after each candidate: the files' identity (size, inode, mtime, ctime; cost "
                   "independent of the data size) or a full re-hash; a full re-hash always runs at start and --resume")
def campaign(task, proposer, sampler, snapshots, max_candidates, policy, name, resume, force, seed, parallel, runs_dir,
             data_root, quiet, model, base_url, max_tokens, thinking, max_cost_usd, max_candidate_tokens, literature,
             plateau, profile_file, cluster, registry, verify_data, then_finish):
    """Run a campaign on TASK: every candidate gated, built, trained, inferred, scored, verified.

    \b
    Examples:
      afr-box campaign heart --proposer hpo --max-candidates 8
      afr-box campaign heart --proposer optuna --sampler tpe --max-candidates 24 --finish
      afr-box campaign heart --name heart-a --resume
      afr-box campaign heart --parallel 2
      afr-box campaign heart --cluster ray://HEAD:10001 --registry HEAD:5000
      afr-box campaign synthetic --proposer claude --policy architecture-open --literature web
      afr-box campaign camelyon --verify-data full
      afr-box campaign synthetic --proposer claude --policy architecture-open --max-cost-usd 5
      afr-box campaign synthetic --proposer openai --base-url http://localhost:8000/v1 --model Qwen/Qwen3-32B
    """
    from afr_box.orchestrator.campaign.loop import CampaignInterrupted, CampaignOptions, run_campaign
    from afr_box.orchestrator.campaign.progress import CampaignDisplay
    from afr_box.orchestrator.proposers.agent.loop import AgentOptions

    if resume and not name:
        raise click.UsageError("--resume needs --name of the campaign to continue")
    if force and not resume:
        raise click.UsageError("--force is for --resume (continue a campaign with changed settings)")
    if snapshots and proposer not in (None, "snapshots"):
        raise click.UsageError("--snapshots is for --proposer snapshots")
    if sampler and proposer not in (None, "optuna"):
        raise click.UsageError("--sampler is for --proposer optuna")
    if registry and not cluster:
        raise click.UsageError("--registry is for --cluster campaigns (a local campaign needs no registry)")
    if cluster:
        from afr_box.orchestrator.campaign.cluster import parse_address
        from afr_box.sandbox.registry import parse_registry

        parse_address(cluster)  # a malformed address fails here, before anything starts
        if not registry:
            raise click.UsageError("--cluster needs --registry HOST:PORT: nodes pull every image from it by digest")
        parse_registry(registry)
    # model None: the provider's default for a new campaign, the campaign's own on --resume
    agent = AgentOptions(model=model, max_tokens=max_tokens, literature=literature, base_url=base_url,
                         thinking=thinking, max_cost_usd=max_cost_usd, max_candidate_tokens=max_candidate_tokens)
    opts = CampaignOptions(task=task, proposer=proposer, sampler=sampler, max_candidates=max_candidates, policy=policy, name=name,
                           resume=resume, force=force, runs_dir=runs_dir, data_root=data_root_or_default(data_root),
                           seed=seed, snapshots=snapshots, parallel=parallel, plateau_threshold=plateau,
                           profile=profile_file, cluster=cluster, registry=registry, agent=agent,
                           verify_data=verify_data)
    if then_finish and cluster:
        raise click.UsageError("--finish runs on this engine: finish a cluster campaign with `afr-box finish` "
                               "where its images are")
    try:
        folder = run_campaign(opts, CampaignDisplay(quiet=quiet))
    except CampaignInterrupted as stopped:
        click.secho(f"interrupted ({signal.Signals(stopped.signum).name}): campaign {stopped.folder.name} stopped, its "
                    f"running candidates killed and left unlogged; continue it with `afr-box campaign {task} --name "
                    f"{stopped.folder.name} --runs-dir {runs_dir} --resume`", fg="yellow", err=True)
        sys.exit(stopped.exit_code)
    if then_finish:
        from afr_box.orchestrator.findings.finish import finish
        from afr_box.reports.campaign_report import write_report

        finish(folder, opts.data_root, parallel=parallel or 1, progress=lambda m: click.echo(m, err=True))
        write_report(folder)
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
@click.option("--images", is_flag=True,
              help="also remove candidate images no container uses; when pruning, only the pruned candidates' "
                   "images that no kept record under --runs-dir uses")
@click.option("--keep-best", type=click.IntRange(0), default=None,
              help="prune campaigns under --runs-dir: keep the baseline and the N best candidates whole, remove "
                   "the models, predictions and logs of the others (records, scores and surfaces stay)")
@click.option("--older-than", default=None, metavar="AGE",
              help="prune only campaigns idle this long (30m, 12h, 7d, 2w); alone it keeps the best 1")
@click.option("--force", is_flag=True, help="also touch running campaigns (their containers, their folders)")
@RUNS_DIR
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="clean every node of this Ray cluster (one cleanup task per node) instead of this engine")
def clean(campaign, images, keep_best, older_than, force, runs_dir, cluster):
    """Remove what afr-box left behind: containers of campaigns that no longer run, optionally candidate
    images, and (--keep-best/--older-than) the bulk of old campaigns. A running campaign is never
    touched without --force.

    \b
    Examples:
      afr-box clean
      afr-box clean --images
      afr-box clean --runs-dir runs --older-than 7d --keep-best 3 --images
      afr-box clean --campaign heart-a --force
      afr-box clean --cluster ray://HEAD:10001 --campaign heart-a
    """
    from afr_box.orchestrator.campaign import cleanup

    # Every afr-box container carries afr.campaign (an agent jail: afr.jail); without --campaign, any value matches.
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

    age = cleanup.parse_age(older_than) if older_than else None
    sandbox = local_sandbox()
    removed, running = cleanup.remove_leftovers(sandbox.executor, labels, force)
    jails, running_jails = cleanup.remove_leftovers(sandbox.executor, {"afr.jail": campaign}, force)  # agent jails
    click.echo(f"removed {removed} container(s)" + (f" and {jails} agent jail(s)" if jails else ""))
    running += running_jails
    if running:
        names = sorted({c.get("afr.campaign") or c.get("afr.jail", "?") for c in running})
        click.echo(f"left {len(running)} container(s) of running campaign(s) {', '.join(names)} (--force removes them)")
    pruning = keep_best is not None or age is not None
    wanted: set[str] = set()
    needed: set[str] = set()
    if pruning:
        for folder in cleanup.campaign_folders(runs_dir):
            if campaign and folder.name != campaign:
                needed |= cleanup.campaign_images(folder)
                continue
            plan = cleanup.plan_prune(folder, 1 if keep_best is None else keep_best, age, force)
            if plan.skipped:
                click.echo(f"{folder.name}: left alone, {plan.skipped}")
                needed |= cleanup.campaign_images(folder)
                continue
            cleanup.prune(plan)
            wanted |= plan.images_pruned
            needed |= plan.images_kept
            click.echo(f"{folder.name}: kept {', '.join(plan.kept) or 'nothing'} whole; pruned {len(plan.files)} "
                       f"file(s), {plan.bytes / 2**20:.1f} MiB")
    if images:
        if pruning:
            n, left = cleanup.remove_images(sandbox.images, wanted, needed)
        else:
            every = {i.id for i in sandbox.images.list_images({"afr.kind": "candidate"})}
            n, left = cleanup.remove_images(sandbox.images, every, set())
        click.echo(f"removed {n} candidate image(s)" + (f"; {left} in use by a container, kept" if left else ""))


@click.command("du")
@RUNS_DIR
@DATA_ROOT
@JSON
def du(runs_dir, data_root, as_json):
    """Show what afr-box takes on disk: campaigns (and how much pruning would free), base and
    candidate images, the image-build cache and the prepared data.

    \b
    Examples:
      afr-box du
      afr-box du --runs-dir runs --json
    """
    from afr_box.orchestrator.campaign.disk import disk_usage, format_usage
    from afr_box.sandbox.providers import local_sandbox

    usage = disk_usage(runs_dir, data_root_or_default(data_root), local_sandbox().images)
    if as_json:
        echo_json(usage)
    else:
        click.echo(format_usage(usage))


COMMANDS = (campaign, bench, clean, du)
