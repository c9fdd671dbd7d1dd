"""The campaign loop: propose -> gate -> build -> train -> infer -> score -> verify -> log -> review.

Candidate 0 is always the untouched baseline. The run log (results.tsv) is the truth about
what is done: `--resume` skips logged candidates and reruns an interrupted one from scratch,
so nothing is lost or duplicated. Containers of the campaign are removed on exit, on
Ctrl-C/SIGTERM, and (after a kill -9) when the campaign resumes.
"""
from __future__ import annotations

import logging
import shutil
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from afr_box.orchestrator.campaign.cluster import ClusterRun
from afr_box.orchestrator.campaign.cluster import start as start_cluster
from afr_box.orchestrator.campaign.identity import base_pin, check_base, check_same
from afr_box.orchestrator.campaign.literature import log_literature
from afr_box.orchestrator.campaign.logs import campaign_log
from afr_box.orchestrator.campaign.progress import CampaignDisplay
from afr_box.orchestrator.campaign.slots import Slot, cluster_slots, host_cpus, plan_slots
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.pipeline.evaluate import Outcome, Setup, evaluate
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.pipeline.review import budget_text, log_outcome
from afr_box.orchestrator.proposers import ProposalFailed, make_proposer
from afr_box.orchestrator.proposers.baseline import BaselineProposer
from afr_box.orchestrator.records.layout import CampaignFolder, candidate_id
from afr_box.orchestrator.records.models import CampaignMeta, ProposalRecord, load, save
from afr_box.orchestrator.records.runlog import RunLog, utc_now
from afr_box.orchestrator.records.status import Status
from afr_box.policies.schema import load_policy, policy_path
from afr_box.profiles.schema import load_profile, profile_path
from afr_box.reports.campaign_report import write_report
from afr_box.sandbox.gpus import host_gpu_ids, resolve_gpus
from afr_box.sandbox.images import find_base
from afr_box.sandbox.provider import Requirements
from afr_box.sandbox.providers import local_sandbox
from afr_box.tasks.shared.hashing import sha256_file
from afr_box.tasks.shared.prepared import heldout_view, verify_prepared

log = logging.getLogger(__name__)

DEFAULTS = {"proposer": "hpo", "seed": 0, "max_candidates": 8}


@dataclass(frozen=True)
class CampaignOptions:
    task: str
    # proposer, seed, max_candidates: None = the default for a new campaign, the recorded value on --resume
    proposer: Optional[str] = None
    max_candidates: Optional[int] = None
    policy: Optional[str] = None
    name: Optional[str] = None
    resume: bool = False
    force: bool = False             # with resume: accept a changed proposer, seed, cap or agent model
    runs_dir: Path = Path("runs")
    data_root: Path = Path("afr-data")
    seed: Optional[int] = None
    snapshots: Optional[Path] = None
    parallel: Optional[int] = None  # candidates at once; default 1 locally, the cluster's afr_slot total with --cluster
    profile: Optional[Path] = None  # a profile YAML for the task other than profiles/<task>.yaml
    agent: Optional[Any] = None                 # ClaudeOptions for --proposer claude
    plateau_threshold: Optional[int] = None     # overrides the profile's plateau_threshold
    cluster: Optional[str] = None   # a Ray cluster (ray://HOST:PORT, HOST:PORT or auto): run candidates there
    registry: Optional[str] = None  # with cluster: the registry (HOST:PORT) nodes pull images from, by digest


def _settings(opts: CampaignOptions, folder: CampaignFolder, hashes: dict) -> CampaignOptions:
    """The options to run with: given ones, else (on --resume) the campaign's own, else defaults.
    A resumed campaign whose profile or policy changed, or whose settings are given differently
    without --force, is refused here, before anything runs."""
    model = getattr(opts.agent, "model", None)
    given = {"proposer": opts.proposer, "seed": opts.seed, "max_candidates": opts.max_candidates,
             "agent_model": model}
    if opts.resume:
        if not folder.is_campaign():
            raise CampaignError(f"nothing to resume at {folder.path} (no campaign.json); drop --resume to start it")
        chosen = check_same(load(CampaignMeta, folder.meta), **hashes, settings=given, force=opts.force)
    else:
        chosen = {k: DEFAULTS.get(k) if v is None else v for k, v in given.items()}
    agent = opts.agent
    if agent is not None and chosen["agent_model"] and chosen["agent_model"] != model:
        agent = replace(agent, model=chosen["agent_model"])
    return replace(opts, proposer=chosen["proposer"], seed=chosen["seed"], max_candidates=chosen["max_candidates"],
                   agent=agent)


def _new_meta(opts: CampaignOptions, name: str, hashes: dict, base, cluster: Optional[ClusterRun]) -> CampaignMeta:
    optional = {"cluster": opts.cluster, "registry": opts.registry if opts.cluster else None,
                "base_repo_digest": cluster.base_ref if cluster is not None else None,  # replay elsewhere pulls it
                "agent": opts.agent.__dict__ if opts.proposer == "claude" and opts.agent else None}
    return CampaignMeta(name=name, task=opts.task, proposer=opts.proposer, seed=opts.seed,
                        max_candidates=opts.max_candidates, **hashes, **base_pin(base), created_at=utc_now(),
                        **{k: v for k, v in optional.items() if v is not None})


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
    name = opts.name or f"{opts.task}-{opts.proposer or DEFAULTS['proposer']}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    folder = CampaignFolder(opts.runs_dir / name)
    opts = _settings(opts, folder, hashes)
    data_dir = opts.data_root / opts.task
    verify_prepared(data_dir)  # fails early, before anything is written, when data is missing
    if profile.heldout_fraction:
        heldout_view(data_dir, profile.heldout_fraction)  # split once, before any candidate runs
    # Also early: a proposer that cannot start (e.g. no API key) must not leave a campaign folder behind.
    proposer = make_proposer(opts.proposer, opts.task, policy, profile, opts.seed, opts.snapshots, opts.agent)
    sandbox = local_sandbox()
    base = find_base(sandbox.images)
    if opts.resume:
        check_base(load(CampaignMeta, folder.meta), base, "resume")
    needs = Requirements(runtime=policy.container.runtime or "", gpus=policy.container.gpus, base=base,
                         data_dirs=tuple([data_dir.resolve()] + ([heldout_view(data_dir, profile.heldout_fraction)
                                                                  .resolve()] if profile.heldout_fraction else [])))
    display = display or CampaignDisplay(quiet=True)
    cluster = None
    if opts.cluster:  # before anything is written: a cluster that cannot run the campaign stops it here
        cluster = start_cluster(opts.cluster, opts.registry, needs, sandbox.images)
        sandbox = cluster.sandbox
        display.note(f"cluster {opts.cluster}: {len(cluster.nodes)} node(s), {cluster.slots} afr_slot(s), "
                     f"images from {opts.registry}")
    else:
        sandbox.executor.preflight(needs)
    try:
        return _run(opts, display, name, folder, hashes, profile, profile_ref, policy, ppath, data_dir, proposer,
                    sandbox, base, cluster)
    finally:
        if cluster is not None:
            cluster.close()


def _run(opts: CampaignOptions, display: CampaignDisplay, name: str, folder: CampaignFolder, hashes: dict, profile,
         profile_ref, policy, ppath, data_dir: Path, proposer, sandbox, base, cluster: Optional[ClusterRun]) -> Path:
    if not opts.resume:
        if folder.path.exists():
            raise CampaignError(f"campaign folder {folder.path} already exists: use --resume to continue it or "
                                "--name for a new one")
        folder.path.mkdir(parents=True)
        save(_new_meta(opts, name, hashes, base, cluster), folder.meta)
        shutil.copyfile(profile_path(profile_ref), folder.profile)
        shutil.copyfile(ppath, folder.policy)
    campaign_dir = folder.path.resolve()
    if cluster is not None:
        slots, slot_notice = cluster_slots(opts.parallel, cluster.slots, policy.container.gpus)
        notice = ""
    else:
        gpu_ids, notice = resolve_gpus(policy.container.gpus, host_gpu_ids())
        slots, slot_notice = plan_slots(opts.parallel or 1, host_cpus(), gpu_ids, policy.container.gpus,
                                        profile.candidates_per_gpu)
    with campaign_log(campaign_dir / folder.log.name):
        log.info("campaign %s %s: task %s, proposer %s, seed %s, up to %s candidates, policy %s, base %s",
                 name, "resumed" if opts.resume else "started", opts.task, opts.proposer, opts.seed,
                 opts.max_candidates, policy.name, base.id[:19])
        for text in (notice, slot_notice):
            if text:
                log.warning(text)
                display.note(f"[yellow]notice:[/] {text}")
        setup = Setup(campaign=name, campaign_dir=campaign_dir, profile=profile, policy=policy,
                      policy_hash=hashes["policy_sha256"], data_dir=data_dir.resolve(), sandbox=sandbox, base=base)
        runlog = RunLog(setup.folder.results)
        leftovers = sandbox.executor.remove_containers({"afr.campaign": name})
        if leftovers:
            log.info("removed %d leftover container(s) of an interrupted run", leftovers)
            display.note(f"removed {leftovers} leftover container(s) of an interrupted run")
        # A finite proposer (replayed snapshots) bounds the campaign: baseline + one per snapshot.
        total = min(opts.max_candidates, len(proposer) + 1) if hasattr(proposer, "__len__") else opts.max_candidates
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            display.start(name, total, len(runlog.done_candidates()))
            _run_candidates(setup, slots, runlog, proposer, BaselineProposer(opts.task, policy), total, display)
        except BaseException as exc:
            log.warning("campaign %s stopped: %s", name, type(exc).__name__)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            sandbox.executor.remove_containers({"afr.campaign": name})
            if setup.folder.results.exists():
                write_report(campaign_dir)
            display.stop()
        log.info("campaign %s finished: %d rows", name, len(runlog.rows()))
    display.note(f"campaign folder: {campaign_dir}")
    return campaign_dir


def _run_candidates(setup: Setup, slots: list[Slot], runlog: RunLog, proposer, baseline, total: int,
                    display: CampaignDisplay) -> None:
    """Propose in index order, run up to one candidate per slot, log in completion order.

    The baseline row is always logged first (the others are reviewed against it); a candidate
    that finishes before it waits. Each slot has its own engine connection.
    """
    done = runlog.done_candidates()
    pending = iter([i for i in range(total) if candidate_id(i) not in done])
    free = [replace(setup, sandbox=setup.sandbox if i == 0 else setup.sandbox.for_another_slot(),
                    gpu_ids=slot.gpu_ids, cpuset=slot.cpuset) for i, slot in enumerate(slots)]
    workspace = setup.folder.workspace
    running: dict[Future, tuple[int, Proposal, Setup]] = {}
    finished: list[tuple[int, Proposal, Outcome]] = []
    baseline_logged = candidate_id(0) in done
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
                    cand = candidate_id(index)
                    display.candidate(index, cand, proposal.description)
                    future = pool.submit(evaluate, slot_setup, cand, proposal,
                                         on_phase=lambda phase, c=cand: display.phase(phase, c))
                    running[future] = (index, proposal, slot_setup)
                if not running and not finished:
                    break
                for future in (wait(running, return_when=FIRST_COMPLETED).done if running else ()):
                    index, proposal, slot_setup = running.pop(future)
                    free.append(slot_setup)
                    finished.append((index, proposal, _outcome_of(future, candidate_id(index))))
                for item in sorted(finished, key=lambda f: f[0] != 0):
                    if item[0] != 0 and not baseline_logged:
                        continue
                    finished.remove(item)
                    baseline_logged = True
                    row = log_outcome(setup, runlog, item[2], item[1], item[0] == 0)
                    display.done(row, runlog.best(setup.profile.metric.higher_is_better))
        except BaseException:
            # Removing the containers makes the running evaluations return at once.
            setup.sandbox.executor.remove_containers({"afr.campaign": setup.campaign})
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _propose(setup: Setup, runlog: RunLog, proposer, index: int, workspace: Path, display: CampaignDisplay,
             finished: list) -> Optional[Proposal]:
    """Ask the proposer for candidate `index`; first switch an agent to literature mode when the
    plateau watchdog fires, and log the literature event it reports. An agent that gives no
    candidate (ProposalFailed) becomes a crash row (logged now, or queued in `finished` while the
    baseline runs), and None is returned."""
    rows = runlog.rows()
    if index and hasattr(proposer, "wants_literature") and proposer.wants_literature(rows):
        proposer.literature_pending = True
        log.info("plateau watchdog fired before candidate %d: literature mode", index)
        display.note(f"[magenta]plateau watchdog fired before candidate {index}: literature mode[/]")
    try:
        proposal = proposer.propose(index, workspace, rows)
    except ProposalFailed as exc:
        cand = candidate_id(index)
        record = setup.folder.candidate(cand).fresh()
        save(ProposalRecord(proposer=proposer.name, agent=exc.usage.record(), failed=str(exc)), record.proposal)
        failed = Proposal(snapshot=workspace, description=f"{proposer.name}: no candidate (agent failed)",
                          proposer=proposer.name, agent=exc.usage.record())
        outcome = Outcome(cand=cand, status=Status.CRASH, reason=f"proposer: {exc}"[:600],
                          runtime_s=round(exc.usage.seconds, 3))
        if candidate_id(0) in runlog.done_candidates():  # log now, before the next proposal's rows
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
                             seed=setup.profile.budget.seed, budget=budget_text(setup.profile), proposer=proposer.name,
                             sources=event.sources, summary=event.summary, elapsed_s=event.elapsed_s,
                             extra={"web_search_requests": event.web_search_requests, "agent": event.agent,
                                    "before_candidate": candidate_id(index)})
        display.done(row, runlog.best(setup.profile.metric.higher_is_better))
    return proposal


def _outcome_of(future: Future, cand: str) -> Outcome:
    """A slot whose evaluation raised (engine error, full disk, ...) logs a crash; the others go on."""
    try:
        return future.result()
    except Exception as exc:
        log.exception("candidate %s: orchestrator error", cand)
        return Outcome(cand=cand, status=Status.CRASH, reason=f"orchestrator error: {type(exc).__name__}: {exc}"[:600])


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
