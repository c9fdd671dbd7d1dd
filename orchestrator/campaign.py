"""The campaign loop: propose -> gate -> build -> train -> infer -> score -> verify -> log -> review.

Candidate 0 is always the untouched baseline. The run log (results.tsv) is the truth about
what is done: `--resume` skips logged candidates and reruns an interrupted one from scratch,
so nothing is lost or duplicated. Containers of the campaign are removed on exit, on
Ctrl-C/SIGTERM, and (after a kill -9) when the campaign resumes.
"""
from __future__ import annotations

import shutil
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from afr_box.orchestrator import records
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.evaluate import Outcome, Proposal, Setup, evaluate
from afr_box.orchestrator.literature import budget_text, log_literature
from afr_box.orchestrator.progress import CampaignDisplay
from afr_box.orchestrator.proposers import make_proposer
from afr_box.orchestrator.proposers.baseline import BaselineProposer
from afr_box.orchestrator.review import review
from afr_box.orchestrator.cluster import ClusterRun
from afr_box.orchestrator.cluster import start as start_cluster
from afr_box.orchestrator.slots import Slot, cluster_slots, host_cpus, plan_slots
from afr_box.orchestrator.runlog import Row, RunLog, utc_now
from afr_box.policies.schema import load_policy, policy_path
from afr_box.profiles.schema import load_profile, profile_path
from afr_box.reports.campaign_report import write_report
from afr_box.sandbox.docker_provider import DockerProvider
from afr_box.sandbox.gpus import host_gpu_ids, resolve_gpus
from afr_box.tasks.shared.hashing import sha256_file
from afr_box.sandbox.images import find_base
from afr_box.tasks.shared.prepared import heldout_view, verify_prepared


@dataclass(frozen=True)
class CampaignOptions:
    task: str
    proposer: str = "hpo"
    max_candidates: int = 8
    policy: Optional[str] = None
    name: Optional[str] = None
    resume: bool = False
    runs_dir: Path = Path("runs")
    data_root: Path = Path("afr-data")
    seed: int = 0
    snapshots: Optional[Path] = None
    parallel: Optional[int] = None  # candidates at once; default 1 locally, the cluster's afr_slot total with --cluster
    profile: Optional[Path] = None  # a profile YAML for the task other than profiles/<task>.yaml
    agent: Optional[Any] = None                 # ClaudeOptions for --proposer claude
    plateau_threshold: Optional[int] = None     # overrides the profile's plateau_threshold
    cluster: Optional[str] = None   # a Ray cluster (ray://HOST:PORT, HOST:PORT or auto): run candidates there
    registry: Optional[str] = None  # with cluster: the registry (HOST:PORT) nodes pull images from, by digest


def _budget_text(setup: Setup) -> str:
    return budget_text(setup.profile)


def _campaign_meta(opts: CampaignOptions, name: str, setup_hashes: dict, base_id: str) -> dict:
    return {"name": name, "task": opts.task, "proposer": opts.proposer, "seed": opts.seed,
            "max_candidates": opts.max_candidates, **setup_hashes, "base_image_id": base_id,
            "created_at": utc_now(), **({"cluster": opts.cluster, "registry": opts.registry} if opts.cluster else {}),
            **({"agent": opts.agent.__dict__} if opts.proposer == "claude" and opts.agent else {})}


def _open_campaign_dir(opts: CampaignOptions, name: str, hashes: dict) -> Path:
    folder = opts.runs_dir / name
    meta_file = folder / "campaign.json"
    if opts.resume:
        if not meta_file.is_file():
            raise CampaignError(f"nothing to resume at {folder} (no campaign.json); drop --resume to start it")
        meta = records.read_json(meta_file)
        for key, value in hashes.items():
            if meta.get(key) != value:
                raise CampaignError(f"cannot resume {name}: {key} changed since it started "
                                    f"({meta.get(key)} -> {value}); start a new campaign instead")
        return folder
    if folder.exists():
        raise CampaignError(f"campaign folder {folder} already exists: use --resume to continue it or --name for a new one")
    folder.mkdir(parents=True)
    return folder


def check_runtime(provider, policy) -> None:
    """A policy that asks for a stronger runtime gets it or nothing runs (no silent fallback)."""
    wanted = policy.container.runtime
    if wanted and wanted not in provider.runtimes():
        raise CampaignError(f"policy {policy.name!r} asks for container runtime {wanted!r}, which this engine "
                            f"lacks (it has: {', '.join(sorted(provider.runtimes())) or 'none'}); install it "
                            f"(gVisor: runsc install) or remove container.runtime from the policy")


def run_campaign(opts: CampaignOptions, display: Optional[CampaignDisplay] = None) -> Path:
    profile_ref = opts.profile or opts.task
    profile = load_profile(profile_ref)
    if profile.task != opts.task:
        raise CampaignError(f"profile {profile_ref} is for task {profile.task!r}, not {opts.task!r}")
    if opts.plateau_threshold is not None:
        profile = profile.model_copy(update={"plateau_threshold": opts.plateau_threshold})
    policy_name = opts.policy or profile.default_policy
    policy = load_policy(policy_name)
    ppath = policy_path(policy_name)
    hashes = {"profile_sha256": sha256_file(profile_path(profile_ref)), "policy": policy.name,
              "policy_sha256": sha256_file(ppath)}
    name = opts.name or f"{opts.task}-{opts.proposer}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    data_dir = opts.data_root / opts.task
    verify_prepared(data_dir)  # fails early, before anything is written, when data is missing
    if profile.heldout_fraction:
        heldout_view(data_dir, profile.heldout_fraction)  # split once, before any candidate runs
    # Also early: a proposer that cannot start (e.g. no API key) must not leave a campaign folder behind.
    proposer = make_proposer(opts.proposer, opts.task, policy, profile, opts.seed, opts.snapshots, opts.agent)
    provider = DockerProvider()
    if not opts.cluster:  # on a cluster, every node's engine is checked by the preflight
        check_runtime(provider, policy)
    base = find_base(provider)
    display = display or CampaignDisplay(quiet=True)
    cluster = None
    if opts.cluster:  # before anything is written: a cluster that cannot run the campaign stops it here
        data_dirs = [data_dir.resolve()] + ([heldout_view(data_dir, profile.heldout_fraction).resolve()]
                                            if profile.heldout_fraction else [])
        cluster = start_cluster(opts.cluster, opts.registry, data_dirs, base, provider, policy.container.gpus,
                                policy.container.runtime or "")
        provider = cluster.provider
        display.note(f"cluster {opts.cluster}: {len(cluster.nodes)} node(s), {cluster.slots} afr_slot(s), "
                     f"images from {cluster.provider.registry}")
    try:
        return _run(opts, display, name, hashes, profile, profile_ref, policy, ppath, data_dir, proposer, provider,
                    base, cluster)
    finally:
        if cluster is not None:
            cluster.close()


def _run(opts: CampaignOptions, display: CampaignDisplay, name: str, hashes: dict, profile, profile_ref, policy,
         ppath, data_dir: Path, proposer, provider, base, cluster: Optional[ClusterRun]) -> Path:
    campaign_dir = _open_campaign_dir(opts, name, hashes).resolve()
    if not opts.resume:
        meta = _campaign_meta(opts, name, hashes, base.id)
        if cluster is not None:  # replay elsewhere pulls the base by this digest
            meta["base_repo_digest"] = cluster.base_ref
        records.write_json(campaign_dir / "campaign.json", meta)
        shutil.copyfile(profile_path(profile_ref), campaign_dir / "profile.yaml")
        shutil.copyfile(ppath, campaign_dir / "policy.yaml")
    if cluster is not None:
        slots, slot_notice = cluster_slots(opts.parallel, cluster.slots, policy.container.gpus)
        notice = ""
    else:
        gpu_ids, notice = resolve_gpus(policy.container.gpus, host_gpu_ids())
        slots, slot_notice = plan_slots(opts.parallel or 1, host_cpus(), gpu_ids, policy.container.gpus,
                                        profile.candidates_per_gpu)
    for text in (notice, slot_notice):
        if text:
            display.note(f"[yellow]notice:[/] {text}")
    setup = Setup(campaign=name, campaign_dir=campaign_dir, profile=profile, policy=policy,
                  policy_hash=hashes["policy_sha256"], data_dir=data_dir.resolve(), provider=provider, base=base)
    runlog = RunLog(campaign_dir / "results.tsv")
    leftovers = provider.remove_containers({"afr.campaign": name})
    if leftovers:
        display.note(f"removed {leftovers} leftover container(s) of an interrupted run")
    # A finite proposer (replayed snapshots) bounds the campaign: baseline + one per snapshot.
    total = min(opts.max_candidates, len(proposer) + 1) if hasattr(proposer, "__len__") else opts.max_candidates
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        display.start(name, total, len(runlog.done_candidates()))
        _run_candidates(setup, slots, runlog, proposer, BaselineProposer(opts.task, policy), total, display)
    finally:
        signal.signal(signal.SIGTERM, previous)
        provider.remove_containers({"afr.campaign": name})
        if (campaign_dir / "results.tsv").exists():
            write_report(campaign_dir)
        display.stop()
    display.note(f"campaign folder: {campaign_dir}")
    return campaign_dir


def _run_candidates(setup: Setup, slots: list[Slot], runlog: RunLog, proposer, baseline, total: int,
                    display: CampaignDisplay) -> None:
    """Propose in index order, run up to one candidate per slot, log in completion order.

    The baseline row is always logged first (the others are reviewed against it); a candidate
    that finishes before it waits. Each slot has its own engine connection.
    """
    done = runlog.done_candidates()
    pending = iter([i for i in range(total) if records.candidate_id(i) not in done])
    free = [replace(setup, provider=setup.provider if i == 0 else setup.provider.for_another_slot(), gpu_ids=slot.gpu_ids,
                    cpuset=slot.cpuset) for i, slot in enumerate(slots)]
    workspace = setup.campaign_dir / "workspace"
    running: dict[Future, tuple[int, Proposal, Setup]] = {}
    finished: list[tuple[int, Proposal, Outcome]] = []
    baseline_logged = records.candidate_id(0) in done
    with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="afr-slot") as pool:
        try:
            while True:
                while free and (index := next(pending, None)) is not None:
                    slot_setup = free.pop(0)
                    proposal = _propose(setup, runlog, baseline if index == 0 else proposer, index, workspace,
                                        display, finished)
                    if proposal is None:  # the agent gave no candidate: a crash row, the slot stays free
                        free.insert(0, slot_setup)
                        continue
                    cand = records.candidate_id(index)
                    display.candidate(index, cand, proposal.description)
                    future = pool.submit(evaluate, slot_setup, cand, proposal,
                                         on_phase=lambda phase, c=cand: display.phase(phase, c))
                    running[future] = (index, proposal, slot_setup)
                if not running and not finished:
                    break
                for future in (wait(running, return_when=FIRST_COMPLETED).done if running else ()):
                    index, proposal, slot_setup = running.pop(future)
                    free.append(slot_setup)
                    finished.append((index, proposal, _outcome_of(future, records.candidate_id(index))))
                for item in sorted(finished, key=lambda f: f[0] != 0):
                    if item[0] != 0 and not baseline_logged:
                        continue
                    finished.remove(item)
                    baseline_logged = True
                    row = log_outcome(setup, runlog, item[2], item[1], item[0] == 0)
                    display.done(row, runlog.best(setup.profile.metric.higher_is_better))
        except BaseException:
            # Removing the containers makes the running evaluations return at once.
            setup.provider.remove_containers({"afr.campaign": setup.campaign})
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _propose(setup: Setup, runlog: RunLog, proposer, index: int, workspace: Path, display: CampaignDisplay,
             finished: list) -> Optional[Proposal]:
    """Ask the proposer for candidate `index`; first switch an agent to literature mode when the
    plateau watchdog fires, and log the literature event it reports. An agent that gives no
    candidate (ProposalFailed) becomes a crash row (logged now, or queued in `finished` while the
    baseline runs), and None is returned."""
    from afr_box.orchestrator.proposers.claude import ProposalFailed

    rows = runlog.rows()
    if index and hasattr(proposer, "wants_literature") and proposer.wants_literature(rows):
        proposer.literature_pending = True
        display.note(f"[magenta]plateau watchdog fired before candidate {index}: literature mode[/]")
    try:
        proposal = proposer.propose(index, workspace, rows)
    except ProposalFailed as exc:
        cand = records.candidate_id(index)
        folder = records.fresh_record(setup.campaign_dir, cand)
        records.write_json(folder / "proposal.json", {"description": "", "proposer": proposer.name,
                                                      "agent": exc.usage.record(), "failed": str(exc)})
        failed = Proposal(snapshot=workspace, description=f"{proposer.name}: no candidate (agent failed)",
                          proposer=proposer.name, agent=exc.usage.record())
        outcome = Outcome(cand=cand, status="crash", reason=f"proposer: {exc}"[:600],
                          runtime_s=round(exc.usage.seconds, 3))
        if records.candidate_id(0) in runlog.done_candidates():  # log now, before the next proposal's rows
            row = log_outcome(setup, runlog, outcome, failed, False)
            display.done(row, runlog.best(setup.profile.metric.higher_is_better))
        else:  # the baseline is logged first: wait for it
            finished.append((index, failed, outcome))
        return None
    if proposal.agent:
        display.note(f"agent for candidate {index:04d}: {proposal.agent['input_tokens']} in / "
                     f"{proposal.agent['output_tokens']} out tokens, {proposal.agent['tool_calls']} tool calls, "
                     f"~${proposal.agent['cost_usd_estimate']:.4f}")
    event = proposer.take_literature_event() if hasattr(proposer, "take_literature_event") else None
    if event is not None:
        row = log_literature(setup.campaign_dir, runlog, task=setup.task, policy=setup.policy.name,
                             seed=setup.profile.budget.seed, budget=_budget_text(setup), proposer=proposer.name,
                             sources=event.sources, summary=event.summary, elapsed_s=event.elapsed_s,
                             extra={"web_search_requests": event.web_search_requests, "agent": event.agent,
                                    "before_candidate": records.candidate_id(index)})
        display.done(row, runlog.best(setup.profile.metric.higher_is_better))
    return proposal


def _outcome_of(future: Future, cand: str) -> Outcome:
    """A slot whose evaluation raised (engine error, full disk, ...) logs a crash; the others go on."""
    try:
        return future.result()
    except Exception as exc:
        return Outcome(cand=cand, status="crash", reason=f"orchestrator error: {type(exc).__name__}: {exc}"[:600])


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def log_outcome(setup: Setup, runlog: RunLog, outcome: Outcome, proposal: Proposal, is_baseline: bool) -> Row:
    """Review a finished candidate and log its row (also used by `afr-box try`)."""
    status, reason = outcome.status, outcome.reason
    if status == "scored":
        best = runlog.best(setup.profile.metric.higher_is_better)
        status = "keep" if is_baseline else review(outcome.score, best.score if best else None,
                                                    setup.profile.metric.higher_is_better, setup.profile.min_delta)
        reason = "baseline" if is_baseline else (f"vs best {best.score:.4f}" if best and best.score is not None else "")
    row = Row(commit=outcome.surface_hash[:12], score=outcome.score if outcome.status == "scored" else None,
              runtime_seconds=outcome.runtime_s, budget=_budget_text(setup), status=status, target=setup.task,
              description=proposal.description, artifacts=f"candidates/{outcome.cand}", candidate=outcome.cand,
              image_id=outcome.image_id, surface_hash=outcome.surface_hash, policy=setup.policy.name,
              seed=setup.profile.budget.seed, proposer=proposal.proposer, reason=reason)
    folder = records.record_dir(setup.campaign_dir, outcome.cand)
    folder.mkdir(parents=True, exist_ok=True)
    # record.json first, then the row: a logged row always has a complete record.
    records.write_json(folder / records.RECORD, {**row.__dict__, "timings": outcome.timings,
                                                 **({"placement": outcome.placement} if outcome.placement else {}),
                                                 **({"agent": proposal.agent} if proposal.agent else {})})
    return runlog.append(row)
