"""The campaign loop: propose -> gate -> build -> train -> infer -> score -> verify -> log -> review.

Candidate 0 is always the untouched baseline. The run log (results.tsv) is the truth about
what is done: `--resume` skips logged candidates and reruns an interrupted one from scratch,
so nothing is lost or duplicated. Ctrl-C or SIGTERM stops the executor (every running
container is killed within a second, no phase starts after it), leaves the interrupted
candidates unlogged, writes the report and raises CampaignInterrupted; containers of the
campaign are also removed on exit and (after a kill -9) when the campaign resumes.
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
from afr_box.orchestrator.pipeline.compute import ComputeBound
from afr_box.orchestrator.pipeline.evaluate import Outcome, Setup, evaluate
from afr_box.orchestrator.pipeline.noise import campaign_noise, missing_seeds, record_floor, record_seed, review_delta
from afr_box.orchestrator.pipeline.proposal import Proposal, keep_transcript
from afr_box.orchestrator.pipeline.review import budget_text, log_outcome
from afr_box.orchestrator.pipeline.verify import DataGuard
from afr_box.orchestrator.proposers import ProposalFailed, make_proposer
from afr_box.orchestrator.proposers.agent.notebook import InFlight
from afr_box.orchestrator.proposers.baseline import BaselineProposer
from afr_box.orchestrator.proposers.optuna_search import DEFAULT_SAMPLER
from afr_box.orchestrator.records.files import read_json_or, write_json
from afr_box.orchestrator.records.layout import CampaignFolder, candidate_id
from afr_box.orchestrator.records.models import CampaignMeta, ProposalRecord, load, save
from afr_box.orchestrator.records.owner import in_use
from afr_box.orchestrator.records.runlog import LITERATURE_FAILED, PROPOSAL_FAILED, RunLog, proposal_failed, utc_now
from afr_box.orchestrator.records.status import Status
from afr_box.policies.schema import load_policy, policy_path
from afr_box.profiles.schema import load_profile, profile_path
from afr_box.reports.campaign_report import write_progress, write_report
from afr_box.sandbox.gpus import host_gpu_ids, resolve_gpus
from afr_box.sandbox.images import find_base
from afr_box.sandbox.provider import Requirements
from afr_box.sandbox.providers import local_sandbox
from afr_box.tasks.shared.hashing import sha256_file
from afr_box.tasks.shared.prepared import heldout_view

log = logging.getLogger(__name__)

DEFAULTS = {"proposer": "hpo", "seed": 0, "max_candidates": 8}
# Agent options a resumed campaign keeps from campaign.json when they are not given again.
RESUMED_AGENT_OPTIONS = ("max_cost_usd", "max_candidate_tokens", "base_url")


@dataclass(frozen=True)
class CampaignOptions:
    task: str
    # proposer, sampler, seed, max_candidates: None = the default for a new campaign, the recorded value on --resume
    proposer: Optional[str] = None
    sampler: Optional[str] = None   # --proposer optuna: random, tpe (default), cmaes, qmc, gp
    max_candidates: Optional[int] = None
    policy: Optional[str] = None
    name: Optional[str] = None
    resume: bool = False
    force: bool = False             # with resume: accept a changed proposer, sampler, seed, cap or agent model
    runs_dir: Path = Path("runs")
    data_root: Path = Path("afr-data")
    seed: Optional[int] = None
    snapshots: Optional[Path] = None
    parallel: Optional[int] = None  # candidates at once; default 1 locally, the cluster's afr_slot total with --cluster
    profile: Optional[Path] = None  # a profile YAML for the task other than profiles/<task>.yaml
    agent: Optional[Any] = None                 # AgentOptions for an agent proposer (claude, openai)
    plateau_threshold: Optional[int] = None     # overrides the profile's plateau_threshold
    cluster: Optional[str] = None   # a Ray cluster (ray://HOST:PORT, HOST:PORT or auto): run candidates there
    registry: Optional[str] = None  # with cluster: the registry (HOST:PORT) nodes pull images from, by digest
    verify_data: str = "identity"   # after each candidate: "identity" of the data files, or "full" re-hash


def _settings(opts: CampaignOptions, folder: CampaignFolder, hashes: dict) -> CampaignOptions:
    """The options to run with: given ones, else (on --resume) the campaign's own, else defaults.
    A resumed campaign whose profile or policy changed, or whose settings are given differently
    without --force, is refused here, before anything runs."""
    model = getattr(opts.agent, "model", None)
    given = {"proposer": opts.proposer, "sampler": opts.sampler, "seed": opts.seed,
             "max_candidates": opts.max_candidates, "agent_model": model}
    if opts.resume:
        if not folder.is_campaign():
            raise CampaignError(f"nothing to resume at {folder.path} (no campaign.json); drop --resume to start it")
        chosen = check_same(load(CampaignMeta, folder.meta), **hashes, settings=given, force=opts.force)
    else:
        chosen = {k: DEFAULTS.get(k) if v is None else v for k, v in given.items()}
        if chosen["proposer"] == "optuna" and chosen["sampler"] is None:
            chosen["sampler"] = DEFAULT_SAMPLER
    if chosen["sampler"] is not None and chosen["proposer"] != "optuna":
        raise CampaignError(f"--sampler is for --proposer optuna, not {chosen['proposer']}")
    agent = opts.agent
    if agent is not None and chosen["agent_model"] and chosen["agent_model"] != model:
        agent = replace(agent, model=chosen["agent_model"])
    if agent is not None and opts.resume:  # caps and endpoint not given again stay as the campaign had them
        recorded = load(CampaignMeta, folder.meta).agent or {}
        kept = {k: recorded[k] for k in RESUMED_AGENT_OPTIONS if getattr(agent, k, None) is None and recorded.get(k)}
        agent = replace(agent, **kept) if kept else agent
    return replace(opts, proposer=chosen["proposer"], sampler=chosen["sampler"], seed=chosen["seed"],
                   max_candidates=chosen["max_candidates"], agent=agent)


def _new_meta(opts: CampaignOptions, name: str, hashes: dict, base, cluster: Optional[ClusterRun],
              proposer) -> CampaignMeta:
    optional = {"sampler": opts.sampler, "cluster": opts.cluster, "registry": opts.registry if opts.cluster else None,
                "base_repo_digest": cluster.base_ref if cluster is not None else None,  # replay elsewhere pulls it
                "agent": proposer.recorded() if hasattr(proposer, "recorded") else None}
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
    label = "-".join(filter(None, (opts.proposer or DEFAULTS["proposer"], opts.sampler)))
    name = opts.name or f"{opts.task}-{label}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    folder = CampaignFolder(opts.runs_dir / name)
    # --resume without --policy: the policy the campaign started with (its file must not have changed)
    recorded = load(CampaignMeta, folder.meta).policy if opts.resume and folder.is_campaign() else None
    policy_name = opts.policy or recorded or profile.default_policy
    policy = load_policy(policy_name)
    ppath = policy_path(policy_name)
    hashes = {"profile_sha256": sha256_file(profile_path(profile_ref)), "policy": policy.name,
              "policy_sha256": sha256_file(ppath)}
    opts = _settings(opts, folder, hashes)
    data_dir = opts.data_root / opts.task
    # Full re-hash at start (and on --resume): fails early, before anything is written, when data
    # is missing or changed; after each candidate only the files' identity is checked against it.
    view = heldout_view(data_dir, profile.heldout_fraction) if profile.heldout_fraction else None  # split once
    guard = DataGuard.start([data_dir.resolve()] + ([view.resolve()] if view else []), opts.verify_data)
    # Also early: a proposer that cannot start (e.g. no API key) must not leave a campaign folder behind.
    proposer = make_proposer(opts.proposer, opts.task, policy, profile, opts.seed, opts.snapshots, opts.agent,
                             opts.sampler, folder)
    sandbox = local_sandbox()
    base = find_base(sandbox.images)
    if opts.resume:
        check_base(load(CampaignMeta, folder.meta), base, "resume")
    needs = Requirements(runtime=policy.container.runtime or "", gpus=policy.container.gpus, base=base,
                         data_dirs=tuple(guard.folders))
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
                    sandbox, base, cluster, guard)
    finally:
        if cluster is not None:
            cluster.close()


def _run(opts: CampaignOptions, display: CampaignDisplay, name: str, folder: CampaignFolder, hashes: dict, profile,
         profile_ref, policy, ppath, data_dir: Path, proposer, sandbox, base, cluster: Optional[ClusterRun],
         guard: DataGuard) -> Path:
    if not opts.resume:
        if folder.path.exists():
            raise CampaignError(f"campaign folder {folder.path} already exists: use --resume to continue it or "
                                "--name for a new one")
        folder.path.mkdir(parents=True)
        save(_new_meta(opts, name, hashes, base, cluster, proposer), folder.meta)
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
    with in_use(campaign_dir), campaign_log(campaign_dir / folder.log.name):
        log.info("campaign %s %s: task %s, proposer %s, seed %s, up to %s candidates, policy %s, base %s",
                 name, "resumed" if opts.resume else "started", opts.task,
                 opts.proposer + (f" ({opts.sampler})" if opts.sampler else ""), opts.seed,
                 opts.max_candidates, policy.name, base.id[:19])
        for text in (notice, slot_notice):
            if text:
                log.warning(text)
                display.note(f"[yellow]notice:[/] {text}")
        for check in guard.started:
            log.info("data: full re-hash of %s: %d files, %.1f MB in %.1f s; after each candidate: %s check",
                     check["folder"], check["files"], check["bytes"] / 1e6, check["seconds"], guard.mode)
        write_json(folder.data_checks, read_json_or(folder.data_checks, []) + [
            {"at": utc_now(), "resumed": opts.resume, "after_candidate": guard.mode, "checks": guard.started}])
        setup = Setup(campaign=name, campaign_dir=campaign_dir, profile=profile, policy=policy,
                      policy_hash=hashes["policy_sha256"], data_dir=data_dir.resolve(), sandbox=sandbox, base=base,
                      data_guard=guard, compute=ComputeBound(campaign_dir))
        runlog = RunLog(setup.folder.results)
        leftovers = sandbox.executor.remove_containers(setup.own_containers)
        if leftovers:
            log.info("removed %d leftover container(s) of an interrupted run", leftovers)
            display.note(f"removed {leftovers} leftover container(s) of an interrupted run")
        # A finite proposer (replayed snapshots) bounds the campaign: baseline + one per snapshot.
        total = min(opts.max_candidates, len(proposer) + 1) if hasattr(proposer, "__len__") else opts.max_candidates
        previous = {sig: signal.signal(sig, _raise_interrupt) for sig in STOP_SIGNALS}
        try:
            display.start(name, total, len(runlog.done_candidates()))
            _run_candidates(setup, slots, runlog, proposer, BaselineProposer(opts.task, policy), total, display)
        except KeyboardInterrupt as exc:
            signum = exc.args[0] if exc.args and isinstance(exc.args[0], int) else signal.SIGINT
            log.warning("campaign %s stopped by %s: running candidates killed, left for --resume", name,
                        signal.Signals(signum).name)
            raise CampaignInterrupted(campaign_dir, signum) from None
        except BaseException as exc:
            log.warning("campaign %s stopped: %s", name, type(exc).__name__)
            raise
        finally:
            for sig in STOP_SIGNALS:  # a second signal must not cut the cleanup short
                signal.signal(sig, signal.SIG_IGN)
            try:
                sandbox.executor.remove_containers(setup.own_containers)
                if setup.folder.results.exists():
                    write_report(campaign_dir)
                display.stop()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        log.info("campaign %s finished: %d rows", name, len(runlog.rows()))
    display.note(f"campaign folder: {campaign_dir}")
    return campaign_dir


def _run_candidates(setup: Setup, slots: list[Slot], runlog: RunLog, proposer, baseline, total: int,
                    display: CampaignDisplay) -> None:
    """Propose in index order, run up to one candidate per slot, log in completion order.

    The baseline goes first, with its noise seeds right behind it (in parallel slots when there
    are any; pipeline/noise.py): the baseline row is always logged first and the others are
    reviewed only once the noise floor is recorded, so a candidate that finishes earlier waits.
    `total` counts candidates: a proposal that gave no candidate (an agent's crash row) takes
    an index but not one of them. Each slot has its own engine connection. An agent proposer
    sees the candidates still running (`in_flight`).
    """
    done = runlog.done_candidates()
    folder, profile = setup.folder, setup.profile
    noise_pending = list(missing_seeds(folder, profile))
    free = [replace(setup, sandbox=setup.sandbox if i == 0 else setup.sandbox.for_another_slot(),
                    gpu_ids=slot.gpu_ids, cpuset=slot.cpuset) for i, slot in enumerate(slots)]
    if hasattr(proposer, "attach"):
        proposer.attach(setup, len(slots))
    workspace = folder.workspace
    running: dict[Future, tuple[int, Optional[int], Proposal, Setup]] = {}
    finished: list[tuple[int, Proposal, Outcome]] = []
    baseline_logged = candidate_id(0) in done
    floor_noted = campaign_noise(folder) is not None
    next_index, proposing = 0, True

    def floor_ready() -> bool:
        """The noise floor is recorded (written here once the baseline and its seeds are done)."""
        nonlocal floor_noted
        if profile.noise_seeds <= 1:
            return True
        floor = record_floor(folder, profile, runlog.rows()) if baseline_logged else None
        if floor is not None and not floor_noted:
            floor_noted = True
            _, text = review_delta(profile.min_delta, floor)
            log.info("noise floor recorded: baseline %s over seeds %s; review delta: %s",
                     "-" if floor.mean is None else f"{floor.mean:.4f} +- {floor.std or 0:.4f}", floor.seeds, text)
            display.note(f"noise floor: {text}")
        return floor is not None

    def wanted() -> bool:
        counted = sum(1 for r in runlog.rows() if r.candidate.isdigit() and not proposal_failed(r))
        queued = (sum(1 for _, seed, _, _ in running.values() if seed is None)
                  + sum(1 for _, p, o in finished if not _no_candidate(o)))
        return counted + queued < total

    def next_job() -> Optional[tuple[int, Optional[int]]]:
        """(index, noise seed or None) to start next: the baseline, then its noise seeds, then candidates."""
        nonlocal next_index
        while candidate_id(next_index) in done:
            next_index += 1
        if noise_pending and next_index > 0:  # the baseline is logged or on its way
            return 0, noise_pending.pop(0)
        if proposing and wanted():
            next_index += 1
            return next_index - 1, None
        return None

    with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="afr-slot") as pool:
        try:
            while True:
                while free and (job := next_job()) is not None:
                    index, seed = job
                    slot_setup = free.pop(0)
                    if seed is not None:  # a noise run: the baseline again with another seed, from a
                        # snapshot of its own (candidate 0's may be read by its gate right now)
                        proposal = baseline.propose(0, workspace / f"noise-s{seed}")
                        cand = f"{candidate_id(0)}-s{seed}"
                        display.note(f"noise floor: baseline with seed {seed}")
                        future = pool.submit(evaluate, replace(slot_setup, campaign_dir=folder.noise_runs), cand,
                                             proposal, seed=seed)
                        running[future] = (index, seed, proposal, slot_setup)
                        continue
                    agent = baseline if index == 0 else proposer
                    if hasattr(agent, "in_flight"):
                        agent.in_flight = tuple(InFlight(candidate_id(i), p.description, Path(p.snapshot))
                                                for i, s, p, _ in running.values() if s is None)
                    proposal, proposing = _propose(setup, runlog, agent, index, workspace, display, finished)
                    if proposal is None:  # the agent gave no candidate: a crash row, the slot stays free
                        free.insert(0, slot_setup)
                        continue
                    cand = candidate_id(index)
                    display.candidate(index, cand, proposal.description)
                    future = pool.submit(evaluate, slot_setup, cand, proposal,
                                         on_phase=lambda phase, c=cand: display.phase(phase, c))
                    running[future] = (index, None, proposal, slot_setup)
                    _live_progress(setup, running)
                if not running and not finished:
                    break
                for future in (wait(running, return_when=FIRST_COMPLETED).done if running else ()):
                    index, seed, proposal, slot_setup = running.pop(future)
                    free.append(slot_setup)
                    if seed is not None:
                        noise = record_seed(folder, seed, _outcome_of(future, f"{candidate_id(0)}-s{seed}"))
                        display.note(f"noise floor: baseline seed {seed}: {noise.status}"
                                     + (f" {noise.score:.4f}" if noise.score is not None else f" ({noise.reason})"))
                        continue
                    finished.append((index, proposal, _outcome_of(future, candidate_id(index))))
                for item in sorted(finished, key=lambda f: f[0] != 0):
                    # the others wait for the baseline's row (and its noise floor, when there is one)
                    if item[0] != 0 and not (baseline_logged and floor_ready()):
                        continue
                    finished.remove(item)
                    row = log_outcome(setup, runlog, item[2], item[1], item[0] == 0)
                    baseline_logged = True
                    display.done(row, runlog.best(profile.metric.higher_is_better))
                    _live_progress(setup, running)
                floor_ready()  # record it as soon as its last run is in, even with no candidate waiting
                _check_failing(runlog, proposer)
        except BaseException:
            # The stop ends every running evaluation within a second (its container killed, its
            # record left unlogged for --resume) and keeps any from starting another phase.
            setup.sandbox.executor.stop()
            setup.sandbox.executor.remove_containers(setup.own_containers)
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _no_candidate(outcome: Outcome) -> bool:
    return outcome.status == Status.CRASH and not outcome.image_id and outcome.reason.startswith(PROPOSAL_FAILED)


def _check_failing(runlog: RunLog, proposer) -> None:
    """Stop a campaign whose agent gives no candidate time after time (its rows cost no candidate,
    so nothing else would end it)."""
    limit = getattr(proposer, "max_failed_in_a_row", 0)
    rows = [r for r in runlog.rows() if r.candidate.isdigit()]
    streak = 0
    for row in reversed(rows):
        if not proposal_failed(row):
            break
        streak += 1
    if limit and streak >= limit:
        raise CampaignError(f"the agent gave no candidate {streak} times in a row (last, {rows[-1].candidate}: "
                            f"{rows[-1].reason[len(PROPOSAL_FAILED):][:300]}); read its transcript in "
                            f"candidates/{rows[-1].candidate}/agent.jsonl, then continue with --resume")


def _live_progress(setup: Setup, running: dict) -> None:
    """Redraw progress.png with the candidates now running (blue); a plot that cannot be drawn
    (an unreadable record) must not stop the campaign: the final report says what is wrong."""
    try:
        write_progress(setup.campaign_dir, [(candidate_id(i), p.description) for i, seed, p, _ in sorted(running.values(), key=lambda v: v[0])
                                                 if seed is None])
    except Exception as exc:  # noqa: BLE001
        log.warning("progress.png not redrawn: %s: %s", type(exc).__name__, exc)


def _propose(setup: Setup, runlog: RunLog, proposer, index: int, workspace: Path, display: CampaignDisplay,
             finished: list) -> tuple[Optional[Proposal], bool]:
    """Ask the proposer for candidate `index`; first switch an agent to literature mode when the
    plateau watchdog fires, and log the literature event it reports. An agent that gives no
    candidate (ProposalFailed) becomes a crash row (logged now, or queued in `finished` while the
    baseline runs), and None is returned. The flag says whether to go on proposing (False once
    the agent's cost cap is reached)."""
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
        failed = Proposal(snapshot=workspace, description=f"{proposer.name}: no candidate "
                          + ("(stopped: cost cap)" if exc.ends_campaign else "(agent failed)"),
                          proposer=proposer.name, agent=exc.usage.record(), transcript=exc.transcript)
        keep_transcript(failed, record.path)
        reason = (LITERATURE_FAILED if exc.literature else PROPOSAL_FAILED) + str(exc)
        outcome = Outcome(cand=cand, status=Status.CRASH, reason=reason[:600], runtime_s=round(exc.usage.seconds, 3))
        if candidate_id(0) in runlog.done_candidates():  # log now, before the next proposal's rows
            row = log_outcome(setup, runlog, outcome, failed, False)
            display.done(row, runlog.best(setup.profile.metric.higher_is_better))
        else:  # the baseline is logged first: wait for it
            finished.append((index, failed, outcome))
        if exc.ends_campaign:
            log.warning("candidate %s: %s", cand, exc)
            display.note(f"[yellow]{exc}[/]")
        return None, not exc.ends_campaign
    if proposal.agent:
        display.note(f"agent for candidate {index:04d}: {proposal.agent['input_tokens']} in / "
                     f"{proposal.agent['output_tokens']} out tokens ({proposal.agent['cache_read_input_tokens']} "
                     f"cache read), {proposal.agent['tool_calls']} tool calls, "
                     + (f"~${proposal.agent['cost_usd_estimate']:.4f}" if proposal.agent['cost_usd_estimate'] is not None
                        else "cost unknown (unpriced model)"))
    event = proposer.take_literature_event() if hasattr(proposer, "take_literature_event") else None
    if event is not None:
        row = log_literature(setup.campaign_dir, runlog, task=setup.task, policy=setup.policy.name,
                             seed=setup.profile.budget.seed, budget=budget_text(setup.profile), proposer=proposer.name,
                             sources=event.sources, summary=event.summary, elapsed_s=event.elapsed_s,
                             extra=event.extra)
        display.done(row, runlog.best(setup.profile.metric.higher_is_better))
    return proposal, True


def _outcome_of(future: Future, cand: str) -> Outcome:
    """A slot whose evaluation raised (engine error, full disk, ...) logs a crash; the others go on."""
    try:
        return future.result()
    except Exception as exc:
        log.exception("candidate %s: orchestrator error", cand)
        return Outcome(cand=cand, status=Status.CRASH, reason=f"orchestrator error: {type(exc).__name__}: {exc}"[:600])


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CampaignInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the campaign: running candidates were killed and are not logged
    (`--resume` reruns them), the report was written."""

    def __init__(self, folder: Path, signum: int):
        super().__init__(signum)
        self.folder, self.signum = folder, signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def _raise_interrupt(signum, frame):
    for sig in STOP_SIGNALS:  # the first signal stops the campaign; the cleanup then runs undisturbed
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(signum)
