"""One candidate through the sandbox: gate -> build -> train -> infer -> score -> verify.

Every step writes its part of the candidate record (records/layout.py). The outcome's status is
SCORED (to be reviewed: pipeline/review.py), REJECTED (gate), CRASH or VIOLATION.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from afr_box.orchestrator.gate.checks import gate_snapshot
from afr_box.orchestrator.gate.surface import edit_paths_reason, surface_diff, surface_hash, write_private_copy
from afr_box.orchestrator.pipeline.compute import ComputeBound
from afr_box.orchestrator.pipeline.phases import Failure, failure, phase_inputs, phase_spec, write_run_file
from afr_box.orchestrator.pipeline.proposal import Proposal, keep_transcript
from afr_box.orchestrator.pipeline.verify import DataGuard, verify_candidate
from afr_box.orchestrator.records.files import read_json_or, write_json
from afr_box.orchestrator.records.layout import CandidateFolder, CampaignFolder
from afr_box.orchestrator.records.owner import folder_id, owner_label
from afr_box.orchestrator.records.models import GateRecord, ImageRecord, ProposalRecord, ScoreRecord, load, load_or, save
from afr_box.orchestrator.records.status import Status
from afr_box.policies.schema import Policy
from afr_box.profiles.schema import Profile
from afr_box.sandbox.errors import ImageBuildError, SandboxError
from afr_box.sandbox.harness.exit_codes import ExitCode
from afr_box.sandbox.harness.paths import INIT_VIOLATION
from afr_box.sandbox.images import build_candidate, harness_api
from afr_box.sandbox.outputs import check_outputs
from afr_box.sandbox.provider import ImageInfo, RunResult, Sandbox
from afr_box.sandbox.spec import RunSpec, describe, writable_out
from afr_box.tasks.shared.prepared import VIEW_PARTS, heldout_view
from afr_box.tasks.shared.text import safe_text

log = logging.getLogger(__name__)
MAX_STATS_BYTES = 1 << 20  # a phase's stats file, read back from /out (the harness writes a few kB)


EVAL_SPLITS = ("test", "heldout", "full")


@dataclass(frozen=True)
class Setup:
    """What stays fixed for every candidate of a campaign."""

    campaign: str
    campaign_dir: Path
    profile: Profile
    policy: Policy
    policy_hash: str
    data_dir: Path
    sandbox: Sandbox
    base: ImageInfo
    gpu_ids: tuple[str, ...] = ()  # given to the candidate's train and infer containers, never the scorer
    cpuset: Optional[str] = None   # the resource slot's CPUs (parallel campaigns on CPU hosts)
    # What the scorer scores: "test" the campaign's evaluation set (the validation part when the
    # profile holds part of each test set out), "heldout" that held-out part (never during the
    # search), "full" the whole test set.
    eval_split: str = "test"
    data_guard: Optional["DataGuard"] = None  # the campaign's data checks (None: full re-hash per candidate)
    run_profile: Optional[Profile] = None  # what the containers run with when not `profile` (a smoke run's budget);
                                           # the gate always judges against `profile`
    compute: Optional[ComputeBound] = None  # the campaign's local-compute bound (None: none held, e.g. bench)

    @property
    def runs_with(self) -> Profile:
        return self.run_profile or self.profile

    @property
    def view(self) -> Optional[Path]:
        """The held-out view (index files of validation and held-out rows) when the profile holds
        part of each test set out (built once, then verified); None: every test row is scored."""
        fraction = self.profile.heldout_fraction
        return heldout_view(self.data_dir, fraction) if fraction else None

    def eval_rows(self) -> Optional[Path]:
        """The row-id folder of the split this setup scores (inference and the scorer apply it to
        the prepared test set); None: every test row."""
        if self.eval_split not in EVAL_SPLITS:
            raise ValueError(f"eval_split must be one of {EVAL_SPLITS}, got {self.eval_split!r}")
        view = None if self.eval_split == "full" else self.view
        if view is None and self.eval_split == "heldout":
            raise ValueError("the 'heldout' split needs a held-out view (profile heldout_fraction)")
        return view / VIEW_PARTS[self.eval_split] if view is not None else None

    @property
    def task(self) -> str:
        return self.profile.task

    @property
    def folder(self) -> CampaignFolder:
        return CampaignFolder(self.campaign_dir)

    @property
    def own_containers(self) -> dict[str, str]:
        """The label filter of this folder's containers (never those of another folder's campaign
        of the same name on the same engine)."""
        return {"afr.folder": folder_id(self.campaign_dir)}

    def labels(self, cand: str) -> dict[str, str]:
        return {"afr.campaign": self.campaign, "afr.candidate": cand, "afr.task": self.task,
                **self.own_containers, "afr.owner": owner_label()}


@dataclass
class Outcome:
    cand: str
    status: Status
    reason: str = ""
    score: Optional[float] = None
    seed: Optional[int] = None
    surface_hash: str = ""
    image_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    runtime_s: float = 0.0
    placement: dict[str, dict] = field(default_factory=dict)  # phase -> cluster node, digest, start/end


class _Steps:
    """Times each step into the outcome and announces it to the progress display."""

    def __init__(self, outcome: Outcome, on_phase: Callable[[str], None]):
        self.outcome, self.on_phase = outcome, on_phase

    def run(self, name: str, fn, *args, **kwargs):
        self.on_phase(name)
        log.debug("candidate %s: %s", self.outcome.cand, name)
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            self.outcome.timings[name] = round(time.monotonic() - start, 3)


def _container(setup: Setup, record: CandidateFolder, phase: str, image: str, cand: str, seed: int,
               inputs: list, gpus: bool = True, compute_bound: Optional[dict] = None) -> RunSpec:
    run_file = write_run_file(setup.runs_with, record, phase, cand, seed, compute_bound)
    out = writable_out(record.phase_out(phase), setup.policy.container.user)
    limits = setup.policy.container
    if setup.cpuset:  # never ask for more CPU time than the slot has
        limits = limits.model_copy(update={"cpus": min(limits.cpus, len(setup.cpuset.split(",")))})
    return phase_spec(
        phase, image, run_file, inputs, out, limits, setup.runs_with.budget.timeout_s,
        harness_api=harness_api(setup.base), cpuset=setup.cpuset,
        labels={**setup.labels(cand), "afr.phase": phase},
        # names are unique per engine: the folder id tells two same-named campaigns apart
        name=f"afr-{setup.campaign[:80]}-{cand}-{phase}-{setup.own_containers['afr.folder'][:8]}",
        gpu_ids=list(setup.gpu_ids) if gpus else [],
    )


def evaluate(setup: Setup, cand: str, proposal: Proposal, seed: Optional[int] = None,
             on_phase: Callable[[str], None] = lambda phase: None, trained: Optional[CandidateFolder] = None) -> Outcome:
    """`seed`: the run's seed (default: the proposal's, else the budget's). `trained`: a record
    whose trained model of this same surface is scored again (infer + score only, e.g. on the
    held-out part); the record names it in trained_from.json."""
    if seed is None:
        seed = setup.profile.budget.seed if proposal.seed is None else proposal.seed
    # Before the clock starts: a campaign's first run calibrates the bound (its time is in compute.json).
    # A smoke run is never scored: no bound.
    bound = (setup.compute.for_run(setup, on_phase) if setup.compute is not None and setup.run_profile is None
             else None)
    start = time.monotonic()
    record = setup.folder.candidate(cand).fresh()
    outcome = Outcome(cand=cand, status=Status.CRASH, seed=seed)
    steps = _Steps(outcome, on_phase)
    optional = {"agent": proposal.agent, "search": proposal.search}
    save(ProposalRecord(description=proposal.description, proposer=proposal.proposer, sources=proposal.sources,
                        seed=seed, **{k: v for k, v in optional.items() if v}), record.proposal)
    keep_transcript(proposal, record.path)
    # gate: on the proposal itself (limits from lstat before any read, each file read once); from
    # here on only the gated bytes are used: the private copy, the diff and the image are made of them.
    if proposal.refused:  # the snapshot itself was refused before it could be copied (an agent's workspace)
        return _rejected_early(record, outcome, start, *proposal.refused)
    refused = edit_paths_reason(proposal.edits)
    if refused:
        return _rejected_early(record, outcome, start, "paths", refused)
    gate = steps.run("gate", gate_snapshot, Path(proposal.snapshot), setup.task, setup.policy, setup.profile,
                     proposal.edits)
    save(GateRecord(ok=gate.ok, reason=gate.reason, checks=gate.checks, surface_hash=gate.surface_hash), record.gate)
    if not gate.ok:
        return _finish(record, outcome, start, Status.REJECTED, f"gate: {gate.reason}")
    snapshot = write_private_copy(record.surface, gate.files)
    outcome.surface_hash = gate.surface_hash
    if trained is not None and surface_hash(trained.surface) != outcome.surface_hash:
        return _finish(record, outcome, start, Status.CRASH, f"the trained model in {trained.path} is not this surface's")
    record.surface_diff.write_text(surface_diff(gate.files))
    on_phase("gated")  # the proposer may act again from here: nothing it does now reaches the image

    images = setup.sandbox.images
    try:
        image, built = steps.run("build", build_candidate, images, gate.files, setup.task, outcome.surface_hash,
                                 setup.base, {"afr.policy": setup.policy.name, "afr.policy-hash": setup.policy_hash})
    except ImageBuildError as exc:
        return _finish(record, outcome, start, Status.CRASH, f"build: {exc}"[:600])
    outcome.image_id = image.id
    image_record = ImageRecord(id=image.id, tags=image.tags, built_now=built, base_id=setup.base.id,
                               layers=image.layers, labels=image.labels, size=image.size)
    if images.publishes:  # a cluster: nodes pull this digest, and check it is this image id
        try:
            image_record.repo_digest = steps.run("push", images.publish, image)
        except SandboxError as exc:
            return _finish(record, outcome, start, Status.CRASH, f"push: {exc}"[:600])
    save(image_record, record.image)
    inputs = phase_inputs(setup.data_dir, record, setup.eval_rows(), trained)
    if trained is not None:
        write_json(record.trained_from, {"record": str(trained.path), "split": setup.eval_split})
    specs: dict[str, RunSpec] = {}
    results: dict[str, RunResult] = {}

    def run_phase(phase: str, image_id: str, gpus: bool = True) -> Optional[Failure]:
        specs[phase] = _container(setup, record, phase, image_id, cand, seed, inputs[phase], gpus,
                                  bound if phase == "score" else None)
        result = results[phase] = steps.run(phase, setup.sandbox.executor.run, specs[phase], record.phase_log(phase))
        write_json(record.containers, {p: describe(s) for p, s in specs.items()})
        write_json(record.resources, {p: _resources(r) for p, r in results.items()})
        if result.placement:
            outcome.placement[phase] = result.placement
        # Before the host reads anything the container wrote (a symlink would be followed).
        bad_output = result.outputs_refused or check_outputs(record.phase_out(phase), phase,
                                                             setup.runs_with.budget.eval_sites())
        if bad_output:
            return Status.VIOLATION, f"{phase}: outputs: {bad_output}"
        if not result.ok:
            stats_file = (record.phase_out(phase) / INIT_VIOLATION if result.exit_code == ExitCode.STRAY_PROCESSES
                          else record.phase_stats(phase))
            return failure(result, phase, read_json_or(stats_file, {}, max_bytes=MAX_STATS_BYTES))
        return None

    failed = (None if trained is not None else run_phase("train", image.id)) or run_phase("infer", image.id)
    if not failed:
        failed = run_phase("score", setup.base.id, gpus=False)
        if failed and results["score"].exit_code == ExitCode.SCORE_REFUSED:
            score = load_or(ScoreRecord, record.score, ScoreRecord())
            kind = Status.VIOLATION if score.refused_kind == "budget" else Status.CRASH
            failed = (kind, f"score refused: {score.refused}")

    verification = steps.run("verify", verify_candidate, setup, image, snapshot, outcome.surface_hash, results)
    write_json(record.verification, verification)
    if not verification["ok"]:
        return _finish(record, outcome, start, Status.VIOLATION, f"verify: {verification['reason']}")
    if failed:
        return _finish(record, outcome, start, *failed)
    outcome.score = float(load(ScoreRecord, record.score).score)
    return _finish(record, outcome, start, Status.SCORED, "")


def _resources(r: RunResult) -> dict[str, Any]:
    return {"wall_s": round(r.wall_s, 3), "exit_code": r.exit_code, "timed_out": r.timed_out,
            "oom_killed": r.oom_killed, "peak_memory_bytes": r.peak_memory_bytes,
            "peak_anon_bytes": r.peak_anon_bytes, "peak_cache_bytes": r.peak_cache_bytes,
            **({"placement": r.placement} if r.placement else {})}


def _rejected_early(record: CandidateFolder, outcome: Outcome, start: float, check: str, detail: str) -> Outcome:
    """A proposal refused before the gate proper ran (its links, its edit paths, a workspace snapshot that
    could not be taken): recorded like a gate answer."""
    save(GateRecord(ok=False, reason=f"{check}: {detail}", checks=[(check, False, detail)]), record.gate)
    return _finish(record, outcome, start, Status.REJECTED, f"gate: {check}: {detail}")


def _finish(record: CandidateFolder, outcome: Outcome, start: float, status: Status, reason: str) -> Outcome:
    outcome.status, outcome.reason = status, safe_text(reason)  # it may quote candidate output
    outcome.runtime_s = round(time.monotonic() - start, 3)
    write_json(record.timings, outcome.timings)
    log.info("candidate %s: %s%s", outcome.cand, status, f" ({outcome.reason[:200]})" if reason else "")
    return outcome
