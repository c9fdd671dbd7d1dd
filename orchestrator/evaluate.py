"""One candidate through the sandbox: gate -> build -> train -> infer -> score -> verify.

Every step writes its part of the candidate record (see records.py). The outcome's status
is `scored` (to be reviewed by the campaign), `rejected` (gate), `crash` or `violation`.
"""
from __future__ import annotations

import difflib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from afr_box.orchestrator import records
from afr_box.orchestrator.gates import gate_snapshot, walk_snapshot
from afr_box.orchestrator.surface import apply_edits
from afr_box.policies.schema import Policy
from afr_box.profiles.schema import Profile
from afr_box.sandbox.errors import ImageBuildError, SandboxError
from afr_box.tasks.shared.hashing import hash_tree, tree_digest
from afr_box.sandbox.images import build_candidate
from afr_box.sandbox.init import STRAYS_EXIT
from afr_box.sandbox.outputs import check_outputs
from afr_box.sandbox.provider import ImageInfo, RunResult, SandboxProvider
from afr_box.sandbox.run_file import CONTAINER_PATH, RunFile
from afr_box.sandbox.spec import OUT, Mount, RunSpec, describe
from afr_box.tasks.shared.layout import repo_file
from afr_box.sandbox.verify import verify_candidate
from afr_box.tasks.shared.prepared import heldout_view

EXIT_REASONS = {2: "NVFlare run failed", 3: "job.py failed to build its recipe", 4: "budget violation",
                STRAYS_EXIT: "background processes left running"}
VIOLATION_EXITS = {4, STRAYS_EXIT}  # the runner's budget checks, the init's stray-process check


@dataclass(frozen=True)
class Setup:
    """What stays fixed for every candidate of a campaign."""

    campaign: str
    campaign_dir: Path
    profile: Profile
    policy: Policy
    policy_hash: str
    data_dir: Path
    provider: SandboxProvider
    base: ImageInfo
    gpu_ids: tuple[str, ...] = ()  # given to the candidate's train and infer containers, never the scorer
    cpuset: Optional[str] = None   # the resource slot's CPUs (parallel campaigns on CPU hosts)
    eval_split: str = "test"       # "heldout": score the held-out part (afr-box heldout), never during search

    @property
    def eval_dir(self) -> Path:
        """Where the evaluation inputs and labels live: the prepared folder, or its held-out view
        when the profile holds part of each test set out (built once, then verified)."""
        fraction = self.profile.heldout_fraction
        return heldout_view(self.data_dir, fraction) if fraction else self.data_dir

    @property
    def task(self) -> str:
        return self.profile.task

    def labels(self, cand: str) -> dict[str, str]:
        return {"afr.campaign": self.campaign, "afr.candidate": cand, "afr.task": self.task}


@dataclass(frozen=True)
class Proposal:
    snapshot: Path
    description: str
    proposer: str
    sources: list[str] = field(default_factory=list)
    agent: dict[str, Any] = field(default_factory=dict)  # an agent proposer's usage: tokens, tool calls, cost
    # File edits on top of `snapshot` ({path under tasks/: new text}), as an agent proposes them;
    # every path is checked before anything is written.
    edits: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    cand: str
    status: str
    reason: str = ""
    score: Optional[float] = None
    surface_hash: str = ""
    image_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    runtime_s: float = 0.0
    placement: dict[str, dict] = field(default_factory=dict)  # phase -> cluster node, digest, start/end


def surface_hash(snapshot: Path) -> str:
    return tree_digest(hash_tree(snapshot))


def surface_diff(snapshot: Path) -> str:
    """Unified diff of each surface file against the baseline task file it replaces."""
    out = []
    for rel in sorted(hash_tree(snapshot)):
        new = (snapshot / rel).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        base_file = repo_file(rel)
        old = base_file.read_text().splitlines(keepends=True) if base_file.is_file() else []
        out.extend(difflib.unified_diff(old, new, f"baseline/{rel}", f"candidate/{rel}"))
    return "".join(out)


class _Phases:
    """Times each phase into the outcome and announces it to the progress display."""

    def __init__(self, outcome: Outcome, on_phase: Callable[[str], None]):
        self.outcome, self.on_phase = outcome, on_phase

    def run(self, name: str, fn, *args, **kwargs):
        self.on_phase(name)
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            self.outcome.timings[name] = round(time.monotonic() - start, 3)


def _run_file(setup: Setup, folder: Path, phase: str, cand: str, seed: int) -> Path:
    budget = {**setup.profile.budget.model_dump(), "seed": seed}
    return RunFile(task=setup.task, phase=phase, budget=budget, sites=setup.profile.budget.site_names(),
                   eval_sites=setup.profile.budget.eval_sites(), metric=setup.profile.metric.model_dump(),
                   candidate=cand).write(folder / f"run-{phase}.json")


# What runs in each phase's container, and what it is given (read-only) besides the run file
# and its own /out. Train and infer run in the candidate image; score only in the base image.
PHASE_MODULES = {"train": "afr_box.sandbox.runner", "infer": "afr_box.sandbox.infer",
                 "score": "afr_box.sandbox.scorer"}
PHASE_IMAGES = {"train": "candidate", "infer": "candidate", "score": "base"}


def phase_inputs(data_dir: Path, folder: Path, eval_dir: Optional[Path] = None,
                 split: str = "test") -> dict[str, list[Mount]]:
    eval_dir = data_dir if eval_dir is None else eval_dir
    return {
        "train": [Mount(data_dir / "train", "/data")],
        "infer": [Mount(folder / "train" / "model.npz", "/model/model.npz"),
                  Mount(eval_dir / f"{split}_inputs", "/data")],
        "score": [Mount(folder / "train", "/train"), Mount(folder / "infer" / "predictions", "/predictions"),
                  Mount(eval_dir / f"{split}_labels", "/labels")],
    }


def phase_spec(phase: str, image: str, run_file: Path, inputs: list[Mount], out: Path, limits,
               timeout_s: float, **extra) -> RunSpec:
    """The one container layout of a phase (used to run it, and to describe it in a review)."""
    return RunSpec(image=image, command=["python", "-m", "afr_box.sandbox.init", PHASE_MODULES[phase]],
                   mounts=[Mount(run_file, CONTAINER_PATH), *inputs, Mount(out, OUT, read_only=False)],
                   limits=limits, timeout_s=timeout_s, **extra)


def _container(setup: Setup, folder: Path, phase: str, image: str, mounts: list[Mount], cand: str,
               seed: int, timeout_s: float, gpus: bool = True) -> RunSpec:
    run_file = _run_file(setup, folder, phase, cand, seed)
    out = records.writable_out(folder / phase, setup.policy.container.user)
    limits = setup.policy.container
    if setup.cpuset:  # never ask for more CPU time than the slot has
        limits = limits.model_copy(update={"cpus": min(limits.cpus, len(setup.cpuset.split(",")))})
    return phase_spec(
        phase, image, run_file, mounts, out, limits, timeout_s, cpuset=setup.cpuset,
        labels={**setup.labels(cand), "afr.phase": phase},
        name=f"afr-{setup.campaign}-{cand}-{phase}"[:120],
        gpu_ids=list(setup.gpu_ids) if gpus else [],
    )


def _failure(result: RunResult, phase: str, stats: dict[str, Any]) -> tuple[str, str]:
    """(status, reason) for a container that did not finish cleanly."""
    if result.out_exceeded:
        return "violation", f"{phase}: wrote more to /out than the policy's out_size (killed)"
    if result.timed_out:
        return "crash", f"{phase}: timeout (killed after the wall-clock limit)"
    if result.oom_killed:
        return "crash", f"{phase}: out of memory (killed at the policy's memory limit)"
    if result.exit_code in VIOLATION_EXITS:
        return "violation", f"{phase}: {stats.get('error') or EXIT_REASONS[result.exit_code]}"
    detail = stats.get("error") or EXIT_REASONS.get(result.exit_code, f"exit code {result.exit_code}")
    tail = " | ".join(line.strip() for line in result.log_tail.strip().splitlines()[-3:])
    return "crash", f"{phase}: {detail}; log tail: {tail}"[:600]


def evaluate(setup: Setup, cand: str, proposal: Proposal, seed: Optional[int] = None,
             on_phase: Callable[[str], None] = lambda phase: None) -> Outcome:
    seed = setup.profile.budget.seed if seed is None else seed
    start = time.monotonic()
    folder = records.fresh_record(setup.campaign_dir, cand)
    outcome = Outcome(cand=cand, status="crash")
    phases = _Phases(outcome, on_phase)
    records.write_json(folder / "proposal.json", {"description": proposal.description, "proposer": proposal.proposer,
                                                  "sources": proposal.sources, "seed": seed,
                                                  **({"agent": proposal.agent} if proposal.agent else {})})
    # gate: on a private copy, before any build
    snapshot = folder / "surface"
    # Links are judged on the proposal itself: the private copy would turn a hardlink into a plain file.
    (listed, detail), _ = walk_snapshot(Path(proposal.snapshot))
    if not listed:
        return _rejected_early(folder, outcome, start, "file-types", detail)
    shutil.copytree(proposal.snapshot, snapshot, symlinks=True)
    refused = apply_edits(snapshot, proposal.edits)
    if refused:
        return _rejected_early(folder, outcome, start, "paths", refused)
    gate = phases.run("gate", gate_snapshot, snapshot, setup.task, setup.policy, setup.profile)
    records.write_json(folder / "gate.json", {"ok": gate.ok, "reason": gate.reason, "checks": gate.checks})
    if not gate.ok:
        return _finish(folder, outcome, start, "rejected", f"gate: {gate.reason}")
    outcome.surface_hash = surface_hash(snapshot)
    (folder / "surface.diff").write_text(surface_diff(snapshot))

    try:
        image, built = phases.run("build", build_candidate, setup.provider, snapshot, setup.task,
                                  outcome.surface_hash, setup.base,
                                  {"afr.policy": setup.policy.name, "afr.policy-hash": setup.policy_hash})
    except ImageBuildError as exc:
        return _finish(folder, outcome, start, "crash", f"build: {exc}"[:600])
    outcome.image_id = image.id
    image_record = {"id": image.id, "tags": image.tags, "built_now": built, "base_id": setup.base.id,
                    "layers": image.layers, "labels": image.labels, "size": image.size}
    if setup.provider.publishes:  # a cluster: nodes pull this digest, and check it is this image id
        try:
            image_record["repo_digest"] = phases.run("push", setup.provider.publish, image)
        except SandboxError as exc:
            return _finish(folder, outcome, start, "crash", f"push: {exc}"[:600])
    records.write_json(folder / "image.json", image_record)
    budget = setup.profile.budget
    inputs = phase_inputs(setup.data_dir, folder, setup.eval_dir, setup.eval_split)
    specs = {"train": _container(setup, folder, "train", image.id, inputs["train"], cand, seed, budget.timeout_s)}
    results: dict[str, RunResult] = {}

    def run_phase(phase: str) -> Optional[tuple[str, str]]:
        results[phase] = phases.run(phase, setup.provider.run, specs[phase], folder / f"{phase}.log")
        records.write_json(folder / "containers.json", {p: describe(s) for p, s in specs.items()})
        records.write_json(folder / "resources.json", {
            p: {"wall_s": round(r.wall_s, 3), "exit_code": r.exit_code, "timed_out": r.timed_out,
                "oom_killed": r.oom_killed, "peak_memory_bytes": r.peak_memory_bytes,
                **({"placement": r.placement} if r.placement else {})} for p, r in results.items()})
        if results[phase].placement:
            outcome.placement[phase] = results[phase].placement
        if results[phase].out_exceeded:  # killed mid-write: what it left is junk, the quota is the finding
            return _failure(results[phase], phase, {})
        # Before the host reads anything the container wrote (a symlink would be followed).
        bad_output = results[phase].outputs_refused or check_outputs(folder / phase, phase,
                                                                     setup.profile.budget.eval_sites())
        if bad_output:
            return "violation", f"{phase}: outputs: {bad_output}"
        if not results[phase].ok:
            stats = records.read_json_or(folder / phase / f"{phase}_stats.json", {})
            if results[phase].exit_code == STRAYS_EXIT:
                stats = records.read_json_or(folder / phase / "init_violation.json", {})
            return _failure(results[phase], phase, stats)
        return None

    failed = run_phase("train")
    if not failed:
        specs["infer"] = _container(setup, folder, "infer", image.id, inputs["infer"], cand, seed, budget.timeout_s)
        failed = run_phase("infer")
    if not failed:
        specs["score"] = _container(setup, folder, "score", setup.base.id, inputs["score"], cand, seed,
                                    budget.timeout_s, gpus=False)
        failed = run_phase("score")
        if failed and results["score"].exit_code == 5:
            score = records.read_json_or(folder / "score" / "score.json", {})
            kind = "violation" if score.get("refused_kind") == "budget" else "crash"
            failed = (kind, f"score refused: {score.get('refused')}")

    verification = phases.run("verify", verify_candidate, setup, image, snapshot, outcome.surface_hash, results)
    records.write_json(folder / "verification.json", verification)
    if not verification["ok"]:
        return _finish(folder, outcome, start, "violation", f"verify: {verification['reason']}")
    if failed:
        return _finish(folder, outcome, start, *failed)
    outcome.score = float(records.read_json(folder / "score" / "score.json")["score"])
    return _finish(folder, outcome, start, "scored", "")


def _rejected_early(folder: Path, outcome: Outcome, start: float, check: str, detail: str) -> Outcome:
    """A proposal refused before the gate proper ran (its links, its edit paths): recorded like a gate answer."""
    records.write_json(folder / "gate.json", {"ok": False, "reason": f"{check}: {detail}",
                                              "checks": [(check, False, detail)]})
    return _finish(folder, outcome, start, "rejected", f"gate: {check}: {detail}")


def _finish(folder: Path, outcome: Outcome, start: float, status: str, reason: str) -> Outcome:
    outcome.status, outcome.reason = status, reason
    outcome.runtime_s = round(time.monotonic() - start, 3)
    records.write_json(folder / "timings.json", outcome.timings)
    return outcome
