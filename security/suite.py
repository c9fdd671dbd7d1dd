"""Runs the attack suite against a policy on a task, through the real sandbox.

The suite is a campaign of hostile candidates (`runs/attacks-<policy>-<task>/`, with the
usual results.tsv and candidate records): first the untouched baseline as a control (it must
be scored, or a broken harness would make every attack look blocked), then one candidate per
attack. Each attack must end rejected, crashed or in violation for the reason its definition
states, and leave its row, record, logs and report rendering inert and bounded (security/inert.py).
Before and after, the host is fingerprinted: the prepared data, the harness code, the
base image, sensitive host files; after, no process of the sandbox user and no suite
container may be left. The verdicts go to `attacks.json`, which `policy review` prints and
campaign reports include.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

from afr_box.orchestrator.campaign.identity import base_pin
from afr_box.orchestrator.gate.surface import make_writable, snapshot_files, surface_hash, write_private_copy
from afr_box.orchestrator.pipeline.compute import ComputeBound
from afr_box.orchestrator.pipeline.evaluate import Setup, evaluate
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.pipeline.review import log_outcome
from afr_box.orchestrator.proposers.baseline import BaselineProposer
from afr_box.orchestrator.records.attacks import RESULTS, suite_name
from afr_box.orchestrator.records.files import read_json_or, write_json
from afr_box.orchestrator.records.layout import CampaignFolder, candidate_id
from afr_box.orchestrator.records.models import CampaignMeta, save
from afr_box.orchestrator.records.owner import busy, in_use
from afr_box.orchestrator.records.runlog import RunLog, utc_now
from afr_box.orchestrator.records.status import Status
from afr_box.policies.schema import load_policy, policy_path, size_bytes
from afr_box.profiles.schema import load_profile, profile_path
from afr_box.sandbox.images import find_base
from afr_box.sandbox.provider import Requirements
from afr_box.sandbox.providers import local_sandbox
from afr_box.reports.campaign_report import write_report
from afr_box.security.attacks import Attack, load_suite
from afr_box.security.inert import record_problems, report_problems
from afr_box.tasks.shared.errors import AfrError
from afr_box.tasks.shared.hashing import hash_tree, sha256_file, tree_digest
from afr_box.tasks.shared.prepared import verify_prepared

PRUNE_BYTES = 16 * 1024 ** 2  # outputs of fill attacks are evidence by name and size, not content
HOST_FILES = ("/etc/passwd", "/etc/shadow", "/etc/hosts")


class SuiteError(AfrError, RuntimeError):
    """The suite could not give a verdict (the control was not scored, the data is missing...)."""


@dataclass
class AttackResult:
    name: str
    threat: str
    description: str
    candidate: str
    status: str
    reason: str
    blocked: bool
    blocked_by: str
    runtime_s: float
    pruned: list[str] = field(default_factory=list)


def _harness_dirs() -> list[Path]:
    import afr_box.sandbox
    root = Path(afr_box.sandbox.__file__).resolve().parents[1]
    return [root / d for d in ("sandbox", "orchestrator", "tasks", "policies", "profiles", "security")]


def _tree(root: Path) -> str:
    return tree_digest({k: v for k, v in hash_tree(root).items() if "__pycache__" not in k})


def processes_of(container_ids: list[str]) -> list[int]:
    """Host processes still in the cgroup of any of these containers (none may outlive them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cgroup = (entry / "cgroup").read_text()
            except OSError:
                continue
            if any(cid in cgroup for cid in container_ids):
                found.append(int(entry.name))
    return found


def host_fingerprint(data_dir: Path, images, base_ref: str) -> dict[str, str]:
    base = images.image_info(base_ref)
    state = {"data": _tree(data_dir), "base_image": base.id if base else "missing"}
    state.update({f"harness:{d.name}": _tree(d) for d in _harness_dirs() if d.is_dir()})
    state.update({f"host:{f}": sha256_file(Path(f)) for f in HOST_FILES if os.access(f, os.R_OK)})
    return state


def _prune(folder: Path) -> list[str]:
    pruned = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size > PRUNE_BYTES:
            pruned.append(f"{path.relative_to(folder)} ({path.stat().st_size // 2**20} MiB)")
            path.unlink()
    return pruned


def run_suite(policy_name: str, task: str, suite_dir: Path, runs_dir: Path, data_root: Path,
              timeout_s: float = 120.0, only: Optional[list[str]] = None,
              say: Callable[[str], None] = print) -> dict:
    attacks = load_suite(suite_dir, only)
    profile = load_profile(task)
    budget = profile.budget.model_copy(update={"timeout_s": int(min(profile.budget.timeout_s, timeout_s))})
    profile = profile.model_copy(update={"budget": budget})
    policy = load_policy(policy_name)
    data_dir = (data_root / task).resolve()
    verify_prepared(data_dir)
    sandbox = local_sandbox()
    base = find_base(sandbox.images)
    sandbox.executor.preflight(Requirements(runtime=policy.container.runtime or "", base=base))
    name = suite_name(policy.name, task)
    campaign = CampaignFolder((runs_dir / name).resolve())
    _replace_previous_run(campaign)
    with in_use(campaign.path):
        return _run_in(campaign, attacks, policy_name, policy, profile, budget, task, suite_dir, data_dir, sandbox,
                       base, say)


def _replace_previous_run(campaign: CampaignFolder) -> None:
    """A suite run is regenerated whole, never resumed: the previous run of this policy and task
    goes, but nothing else (a folder of another kind, or a suite someone is running now)."""
    folder = campaign.path
    if folder.exists():
        if busy(folder):
            raise SuiteError(f"an attack-suite run is using {folder} now; wait for it, or give another --runs-dir")
        kind = read_json_or(campaign.meta, {}).get("kind")
        if kind != "attack-suite" and any(folder.iterdir()):
            raise SuiteError(f"{folder} exists and is not an attack-suite record: it is left alone; move it, or "
                             "give another --runs-dir")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _run_in(campaign: CampaignFolder, attacks: list[Attack], policy_name: str, policy, profile, budget, task: str,
            suite_dir: Path, data_dir: Path, sandbox, base, say: Callable[[str], None]) -> dict:
    name, folder = campaign.name, campaign.path
    policy_hash = sha256_file(policy_path(policy_name))
    meta = CampaignMeta(name=name, task=task, proposer="attack-suite", policy=policy.name, policy_sha256=policy_hash,
                        profile_sha256=sha256_file(profile_path(task)), **base_pin(base), created_at=utc_now(),
                        kind="attack-suite", timeout_s=budget.timeout_s, suite=str(suite_dir),
                        attacks=[a.name for a in attacks])
    save(meta, campaign.meta)
    shutil.copyfile(policy_path(policy_name), campaign.policy)
    shutil.copyfile(profile_path(task), campaign.profile)
    setup = Setup(campaign=name, campaign_dir=folder, profile=profile, policy=policy, policy_hash=policy_hash,
                  data_dir=data_dir, sandbox=sandbox, base=base, compute=ComputeBound(folder))
    runlog = RunLog(campaign.results)
    before = host_fingerprint(data_dir, sandbox.images, base.id)
    start = time.monotonic()
    results: list[AttackResult] = []
    try:
        say(f"attack suite: {len(attacks)} attacks against policy {policy.name} on {task} "
            f"(timeout {budget.timeout_s:.0f} s per container)")
        control = evaluate(setup, candidate_id(0), BaselineProposer(task, policy).propose(0, campaign.workspace))
        log_outcome(setup, runlog, control, Proposal(snapshot=Path("."), description="control: untouched baseline",
                                              proposer="baseline"), True)
        if control.status != Status.SCORED:
            raise SuiteError(f"the control (untouched baseline) ended {control.status}: {control.reason}; "
                             f"fix the harness before reading any attack verdict")
        say(f"  control  scored {control.score:.4f} in {control.runtime_s:.1f} s")
        # A slow host must not turn a long honest phase into a "timeout": attacks get at least
        # 1.5 times the control's slowest phase.
        slowest = max((control.timings.get(p, 0.0) for p in ("train", "infer", "score")), default=0.0)
        if 1.5 * slowest > budget.timeout_s:
            budget = budget.model_copy(update={"timeout_s": int(1.5 * slowest) + 1})
            setup = replace(setup, profile=profile.model_copy(update={"budget": budget}))
            say(f"  per-container timeout raised to {budget.timeout_s} s (1.5 times the control's slowest phase)")
        for i, attack in enumerate(attacks, start=1):
            results.append(_run_attack(setup, runlog, attack, i, folder))
            r = results[-1]
            say(f"  [{i:2d}/{len(attacks)}] {r.name:<22} {'blocked' if r.blocked else 'NOT BLOCKED':<11} "
                f"{r.status:<9} by {r.blocked_by}  ({r.runtime_s:.1f} s)")
        _check_report(folder, results, say)
    finally:
        sandbox.executor.remove_containers(setup.own_containers)
    after = host_fingerprint(data_dir, sandbox.images, base.id)
    changed = sorted(k for k in before if before[k] != after.get(k))
    leftovers = processes_of(sandbox.executor.started)
    scored = sum(r.status == Status.SCORED for r in results)
    blocked = sum(r.blocked for r in results)
    host_ok = not changed and not leftovers
    problems = [f"changed {k}" for k in changed] + ([f"{len(leftovers)} processes left running"] if leftovers else [])
    summary = (f"{len(results)} attacks, {blocked} blocked, {scored} scored, "
               + ("host and data unchanged" if host_ok else "HOST NOT CLEAN: " + "; ".join(problems)))
    report = {**meta.model_dump(mode="json", exclude={"harness_files"}), "control": {"status": control.status, "score": control.score},
              "attack_timeout_s": setup.profile.budget.timeout_s, "results": [asdict(r) for r in results], "host_before": before, "host_after": after,
              "host_changed": changed, "leftover_processes": leftovers, "summary": summary,
              "ok": host_ok and blocked == len(results) and scored == 0,
              "wall_s": round(time.monotonic() - start, 1)}
    write_json(folder / RESULTS, report)
    say(summary)
    return report


class _Swap:
    """A racing proposer that owns the record: rewrites the gated private copy after the gate
    passed it. The gated bytes are kept so that, once the attack has been judged, the record can
    be put back as the gate saw it: the suite's own folder must stay auditable (`afr-box audit`)."""

    def __init__(self, private_copy: Path, files: dict[str, str]):
        self.private_copy, self.files, self.gated = private_copy, files, None

    def __call__(self, phase: str) -> None:
        if phase != "gated" or not self.files or not self.private_copy.is_dir():
            return
        self.gated = snapshot_files(self.private_copy)
        make_writable(self.private_copy)
        for rel, text in self.files.items():
            target = self.private_copy.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def undo(self, recorded_hash: str) -> Optional[str]:
        """Restore the gated private copy; a problem if the swap would have gone unnoticed (the
        record's snapshot still hashing to what the row says)."""
        if self.gated is None:
            return None
        unnoticed = surface_hash(self.private_copy) == recorded_hash
        make_writable(self.private_copy)
        shutil.rmtree(self.private_copy)
        write_private_copy(self.private_copy, self.gated)
        return "NOT BLOCKED: the swapped snapshot hashes as the gated one (an audit would miss it)" if unnoticed else None


def _check_report(folder: Path, results: list[AttackResult], say: Callable[[str], None]) -> None:
    """Render the suite's own report, as a reviewer would open it, and hold every attack's text to
    it: markup from a description or an error text must reach report.html as text."""
    write_report(folder)
    for r in results:
        problems = report_problems(folder, r.candidate)
        if r.blocked and problems:
            r.blocked, r.blocked_by = False, f"NOT BLOCKED: {problems[0]}"
            say(f"  {r.name:<22} NOT BLOCKED: {problems[0]}")


def _run_attack(setup: Setup, runlog: RunLog, attack: Attack, index: int, folder: Path) -> AttackResult:
    cand = candidate_id(index)
    staging = setup.folder.workspace / attack.name
    try:
        snap, edits = attack.build(setup.task, setup.policy, staging)
        proposal = Proposal(snapshot=snap, description=f"ATTACK {attack.name}: {attack.description}",
                            proposer="attack", edits=edits)
        swap = _Swap(setup.folder.candidate(cand).surface, attack.after_gate(setup.task))
        outcome = evaluate(setup, cand, proposal, on_phase=swap)
    finally:
        # The hostile proposal itself (a 64 GiB sparse file, an inode flood) is not kept in the
        # record folder: whoever copies or backs it up would write it out. The record holds what
        # the gate saw.
        shutil.rmtree(staging, ignore_errors=True)
    log_outcome(setup, runlog, outcome, proposal, False)
    unnoticed = swap.undo(outcome.surface_hash)
    inert = record_problems(folder, cand, size_bytes(setup.policy.container.log_size))  # before pruning
    pruned = _prune(setup.folder.candidate(cand).path)
    blocked, by = attack.verdict(outcome.status, outcome.reason)
    if blocked and inert:
        blocked, by = False, f"NOT BLOCKED: {inert[0]}"
    if blocked and unnoticed:
        blocked, by = False, unnoticed
    return AttackResult(name=attack.name, threat=attack.threat, description=attack.description, candidate=cand,
                        status=outcome.status, reason=outcome.reason, blocked=blocked, blocked_by=by,
                        runtime_s=outcome.runtime_s, pruned=pruned)
