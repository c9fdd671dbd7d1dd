"""The three containers of a candidate: what each runs, what it is given, and what a failed one means.

Train and infer run in the candidate image (its model class is candidate code); score runs in
the base image only, the one container that sees the evaluation labels. Each gets the read-only
run file, its read-only inputs and its own /out, nothing else.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from afr_box.orchestrator.records.layout import CandidateFolder
from afr_box.orchestrator.records.status import Status
from afr_box.sandbox.harness import paths
from afr_box.sandbox.harness.exit_codes import VIOLATION_EXITS, exit_reason
from afr_box.sandbox.harness.run_file import RunFile
from afr_box.sandbox.provider import RunResult
from afr_box.sandbox.spec import Mount, RunSpec
from afr_box.tasks.shared.text import safe_text

PHASES = ("train", "infer", "score")
PHASE_IMAGES = {"train": "candidate", "infer": "candidate", "score": "base"}
# The phase module each container's init starts, by the base image's harness api (sandbox/images.py):
# api 1 bases (made before the harness had a package of its own) keep their module paths, so a
# campaign logged on one still replays on it.
PHASE_COMMANDS = {
    api: {phase: ["python", "-m", "afr_box.sandbox.harness.init", f"afr_box.sandbox.harness.{module}"]
          for phase, module in (("train", "runner"), ("infer", "infer"), ("score", "scorer"))}
    for api in ("2", "3")
} | {
    "1": {phase: ["python", "-m", "afr_box.sandbox.init", f"afr_box.sandbox.{module}"]
          for phase, module in (("train", "runner"), ("infer", "infer"), ("score", "scorer"))},
}
Failure = tuple[Status, str]


def phase_inputs(data_dir: Path, record: CandidateFolder, rows: Optional[Path] = None,
                 trained: Optional[CandidateFolder] = None) -> dict[str, list[Mount]]:
    """Each phase's read-only inputs besides the run file. Every site is a folder of its own under
    train/, test_inputs/ and test_labels/ (tasks/shared/prepared.py). `rows`, a held-out view's
    row ids for the split scored (/rows), are applied by inference and the scorer to the prepared
    test data. The trained model and its stats come from `trained`'s train phase (another record's,
    when a trained model is scored again on another split)."""
    trained = record if trained is None else trained
    row_ids = [Mount(rows, paths.ROWS)] if rows is not None else []
    return {
        "train": [Mount(data_dir / "train", paths.DATA)],
        "infer": [Mount(trained.model, paths.MODEL), Mount(data_dir / "test_inputs", paths.DATA), *row_ids],
        "score": [Mount(trained.phase_out("train"), paths.TRAIN), Mount(record.predictions, paths.PREDICTIONS_IN),
                  Mount(data_dir / "test_labels", paths.LABELS), *row_ids],
    }


def phase_spec(phase: str, image: str, run_file: Path, inputs: list[Mount], out: Path, limits, timeout_s: float,
               harness_api: str = "3", **extra) -> RunSpec:
    """The one container layout of a phase (used to run it, and to describe it in a review)."""
    return RunSpec(image=image, command=PHASE_COMMANDS[harness_api][phase],
                   mounts=[Mount(run_file, paths.RUN_FILE), *inputs, Mount(out, paths.OUT, read_only=False)],
                   limits=limits, timeout_s=timeout_s, **extra)


def write_run_file(profile, record: CandidateFolder, phase: str, cand: str, seed: int,
                   compute_bound: Optional[dict] = None) -> Path:
    """The read-only run file of a phase: the profile's budget with this run's seed, never the
    surface; the scorer's with the campaign's local-compute bound."""
    budget = {**profile.budget.model_dump(), "seed": seed}
    return RunFile(task=profile.task, phase=phase, budget=budget, sites=profile.budget.site_names(),
                   eval_sites=profile.budget.eval_sites(), metric=profile.metric.model_dump(exclude_none=True),
                   candidate=cand, compute_bound=compute_bound).write(record.run_file(phase))


def failure(result: RunResult, phase: str, stats: dict[str, Any]) -> Failure:
    """(status, reason) for a container that did not finish cleanly. `stats` was read from /out,
    where candidate code can write too: untrusted, whatever its shape."""
    stats = stats if isinstance(stats, dict) else {}
    if result.timed_out:
        return Status.CRASH, f"{phase}: timeout (killed after the wall-clock limit)"
    if stats.get("dead_client"):  # the runner saw which client died, and why (sandbox/harness/supervise.py)
        return Status.CRASH, safe_text(f"{phase}: {stats['dead_client']}", limit=600)
    if result.oom_killed:
        return Status.CRASH, f"{phase}: out of memory (killed at the policy's memory limit)"
    # The stats file sits in /out, where candidate code can write too: its error is untrusted text.
    error = stats.get("error")
    detail = safe_text(str(error or exit_reason(result.exit_code)))
    if result.exit_code in VIOLATION_EXITS:
        return Status.VIOLATION, f"{phase}: {detail}"
    tail = " | ".join(line.strip() for line in result.log_tail.strip().splitlines()[-3:])
    return Status.CRASH, safe_text(f"{phase}: {detail}; log tail: {tail}", limit=600)
