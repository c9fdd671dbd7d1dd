"""A smoke run: a surface through the same gate, image build and containers as a scored candidate,
with the profile's `smoke:` budget (1 round, 2 clients, a few local steps by default).

It answers "does this build, train, infer and score at all?" before a candidate is spent on it:
it is never a results.tsv row, and what it reports holds no score (the scorer's number on the
evaluation data would be a free oracle for whoever runs smoke runs). The image is the one the
candidate will use (content-addressed), so a later scored run of the same surface reuses it.
Records go to `runs/<campaign>/smoke/candidates/<label>/`, laid out like any candidate record.

The built-in agent's `smoke_run` tool calls `smoke_run`; so can the external mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from afr_box.orchestrator.pipeline.evaluate import Setup, evaluate
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.records.layout import PHASES, CampaignFolder
from afr_box.orchestrator.records.status import Status
from afr_box.profiles.schema import LocalSteps, Profile

PROPOSER = "smoke"
LOG_LINES = 30


def smoke_profile(profile: Profile) -> Profile:
    """The profile a smoke run's containers get: the `smoke:` budget over the first sites."""
    s, b = profile.smoke, profile.budget
    clients = min(s.clients, b.clients)
    steps = min(s.local_steps, b.local_steps.max)
    budget = b.model_copy(update={
        "rounds": s.rounds, "clients": clients, "timeout_s": s.timeout_s, "eval_clients": list(range(clients)),
        "local_steps": LocalSteps(baseline=steps, min=min(b.local_steps.min, steps), max=steps)})
    return profile.model_copy(update={"budget": budget})


@dataclass
class SmokeResult:
    label: str
    ok: bool
    status: str                    # passed, or the row status a scored run would have had: rejected, crash, violation
    reason: str
    timings: dict[str, float] = field(default_factory=dict)
    log_tail: list[str] = field(default_factory=list)  # the failed container's log (never the scorer's)
    folder: Path = Path()

    def describe(self, budget_text: str) -> str:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        head = (f"smoke run {self.label} ({budget_text}; not a candidate, no score): "
                + ("PASSED: gate, build, train, infer and score all went through" if self.ok
                   else f"FAILED ({self.status}): {self.reason}"))
        lines = [head] + ([f"steps: {steps}"] if steps else [])
        if self.log_tail:
            lines += ["--- log tail ---", *self.log_tail]
        return "\n".join(lines)


def smoke_budget_text(profile: Profile) -> str:
    b = smoke_profile(profile).budget
    return f"{b.rounds} round, {b.clients} clients, at most {b.local_steps.max} local steps"


def next_smoke_label(campaign_dir: Path) -> str:
    """The next free label of an external agent's smoke runs (s001, s002, ...)."""
    folder = CampaignFolder(campaign_dir).smoke / "candidates"
    taken = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    n = 1
    while f"s{n:03d}" in taken:
        n += 1
    return f"s{n:03d}"


def smoke_run(setup: Setup, snapshot: Path, label: str, description: str = "smoke run",
              refused=None) -> SmokeResult:
    """Run `snapshot` as a smoke run labelled `label` (e.g. 0003-s1) under the campaign of `setup`."""
    smoke = replace(setup, campaign_dir=setup.folder.smoke, run_profile=smoke_profile(setup.profile),
                    sandbox=setup.sandbox.for_another_slot())
    outcome = evaluate(smoke, label, Proposal(snapshot=snapshot, description=description, proposer=PROPOSER,
                                              refused=refused))
    record = smoke.folder.candidate(label)
    ok = outcome.status == Status.SCORED
    tail: list[str] = []
    failed_phase = next((p for p in PHASES if outcome.reason.startswith(f"{p}:")), None)
    if not ok and failed_phase in ("train", "infer") and record.phase_log(failed_phase).is_file():
        tail = record.phase_log(failed_phase).read_text(errors="replace").splitlines()[-LOG_LINES:]
    return SmokeResult(label=label, ok=ok, status="passed" if ok else str(outcome.status),
                       reason=_without_score(outcome.reason), timings=dict(outcome.timings), log_tail=tail,
                       folder=record.path)


def _without_score(reason: str) -> str:
    """A failed score phase's reason carries the scorer's log tail: never pass it on."""
    return reason.split("; log tail:")[0] if reason.startswith("score:") else reason
