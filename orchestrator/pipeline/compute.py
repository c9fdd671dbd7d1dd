"""The local-compute bound: how much CPU each site's client may use in one training run.

`local_steps` is a knob that a candidate's own client code honours or not. What a client really
computed is measured outside every candidate process: the training container's fork server
counts each site's CPU seconds with wait4, everything its worker started included
(sandbox/harness/preload.py). The bound those counts are held against is calibrated on this
machine, once per base image and budget: the untouched baseline (trusted code) trained with the
budget's `local_steps.max` through the same sandbox. A site's client may use

    FACTOR x the most CPU any site's client used there + MARGIN_S

CPU seconds are a coarse measure: on this 2-core machine the same run's count moves by a third
under load, and heart's training is small next to NVFlare's own per-round work (a site's client
uses 1.2 s at 1 local step a round, 1.5 s at 100, 2.2 s at 250, 3.7 s at 1000; 15 rounds). So the
factor is wide: it leaves room for load and for a heavier model or client objective within the
policy, and it catches gross overuse (attack local-compute-10x: ten times local_steps.max, 7 s or
more on heart), and on a compute-bound task such as femnist much less than that. The scorer refuses
a run over it as a budget violation (sandbox/harness/scorer.py), whatever the candidate's files say.

Only where candidate code runs in the clients: under a policy whose surface holds data files only
(scalar-hpo: the knobs file), the trusted client code honours `local_steps` and the gate bounds the
knob, so no calibration is run and none is held (compute.json says so).

Recorded in <campaign>/compute.json (one entry per machine and budget: a replay elsewhere
calibrates again) and kept machine-wide in the afr-box cache (compute/<key>.json), so that the
next campaign on this machine with the same base image and budget reuses it instead of training
the baseline again; the calibration's runs stay under the campaign that ran them (compute/candidates/).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from pydantic import BaseModel

from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.records.files import read_json_or, write_json
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.status import Status
from afr_box.policies.schema import Policy
from afr_box.profiles.schema import Profile
from afr_box.sandbox.images import cache_dir

if TYPE_CHECKING:
    from afr_box.orchestrator.pipeline.evaluate import Setup

log = logging.getLogger(__name__)
FACTOR = 2.0
MARGIN_S = 1.0
# What a policy may change without changing code: files the trusted harness reads as data.
DATA_SUFFIXES = (".yaml", ".yml", ".json")


class Calibration(BaseModel):
    """One entry of compute.json."""

    key: str
    machine: str
    local_steps: int
    rounds: int
    site_cpu_s: dict[str, float] = {}
    bound_s: Optional[float] = None  # None: the calibration did not give one; nothing is held against it
    how: str = ""
    seconds: float = 0.0
    runs: str = ""  # where the calibration's runs are (another campaign's, when reused from the cache)


def runs_candidate_code(task: str, policy: Policy) -> bool:
    """Whether a candidate under `policy` can change code that runs in the clients: any surface
    glob that could match something other than a data file."""
    return any(not glob.endswith(DATA_SUFFIXES) for glob in policy.globs_for(task))


def calibration_profile(profile: Profile) -> Profile:
    """The budget with the baseline training local_steps.max steps a round."""
    steps = profile.budget.local_steps
    budget = profile.budget.model_copy(update={"local_steps": steps.model_copy(update={"baseline": steps.max})})
    return profile.model_copy(update={"budget": budget})


def machine() -> str:
    """What CPU seconds depend on: the processor model and how many there are."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or 'unknown CPU'} x {os.cpu_count()}"


def calibration_key(setup: "Setup") -> str:
    budget = setup.profile.budget.model_dump(exclude={"seed"})
    what = {"task": setup.task, "budget": budget, "base": setup.base.id, "machine": machine(),
            "cpus": setup.policy.container.cpus, "gpus": setup.policy.container.gpus}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ComputeBound:
    """A campaign's bound, calibrated on first use and kept in its compute.json. One object is
    shared by all of a campaign's setups (dataclasses.replace keeps the reference), so parallel
    slots calibrate once."""

    def __init__(self, root: Path):
        self.folder = CampaignFolder(Path(root))
        self._lock = threading.Lock()

    def for_run(self, setup: "Setup", announce=lambda text: None) -> Optional[dict]:
        """The score phase's compute_bound (None: none held); `announce` is told when this run
        waits for the calibration."""
        with self._lock:
            key = calibration_key(setup)
            known = self._known()
            found = next((c for c in known if c.key == key), None)
            if found is None:
                # The key is per base image and budget, not policy: a bound cached by an architecture-open
                # campaign must not reach one that runs no candidate code.
                cached = self._cached(key) if runs_candidate_code(setup.task, setup.policy) else None
                found = cached or self._new(setup, key, announce)
                write_json(self.folder.compute, [c.model_dump() for c in known + [found]])
        return None if found.bound_s is None else {"site_cpu_s": found.bound_s, "how": found.how}

    def _new(self, setup: "Setup", key: str, announce) -> Calibration:
        budget = setup.profile.budget
        if not runs_candidate_code(setup.task, setup.policy):
            return Calibration(key=key, machine=machine(), local_steps=budget.local_steps.max, rounds=budget.rounds,
                               how=f"not needed: policy {setup.policy.name} changes data files only, and the "
                                   f"trusted client code trains the knob's local_steps (at most {budget.local_steps.max})")
        announce(f"calibrating the local-compute bound (the baseline at local_steps {budget.local_steps.max})")
        entry = self._calibrate(setup, key)
        if entry.bound_s is not None:
            write_json(cache_file(key), entry.model_dump())
        return entry

    @staticmethod
    def _cached(key: str) -> Optional[Calibration]:
        try:
            entry = Calibration.model_validate(read_json_or(cache_file(key), None))
        except ValueError:
            return None  # none yet, or one this version cannot read: calibrated again
        if entry.key != key or entry.bound_s is None:
            return None
        log.info("local compute: bound %.1f s per site's client, calibrated earlier on this machine (%s)",
                 entry.bound_s, entry.runs)
        return entry

    def _known(self) -> list[Calibration]:
        entries = read_json_or(self.folder.compute, [])
        known = []
        for entry in entries if isinstance(entries, list) else []:
            try:
                known.append(Calibration.model_validate(entry))
            except ValueError:
                continue  # an entry this version cannot read is calibrated again
        return known

    def _calibrate(self, setup: "Setup", key: str) -> Calibration:
        from afr_box.orchestrator.pipeline.evaluate import evaluate

        steps, rounds = setup.profile.budget.local_steps.max, setup.profile.budget.rounds
        folder = CampaignFolder(self.folder.compute_runs)
        cand = f"0000-steps{steps}-{key[:8]}"
        log.info("local compute: calibrating the bound (the baseline at local_steps.max %d, %d rounds)", steps, rounds)
        snapshot = baseline_snapshot(setup.task, setup.policy, folder.path / "surfaces" / cand)
        calibrating = replace(setup, campaign_dir=folder.path, run_profile=calibration_profile(setup.profile),
                              compute=None)
        start = time.monotonic()
        outcome = evaluate(calibrating, cand, Proposal(snapshot, f"compute calibration: baseline at "
                                                                 f"local_steps {steps}", "baseline"))
        seconds = round(time.monotonic() - start, 1)
        stats = read_json_or(folder.candidate(cand).train_stats, {})
        entry = Calibration(key=key, machine=machine(), local_steps=steps, rounds=rounds, seconds=seconds,
                            runs=str(folder.candidate(cand).path))
        counted = stats.get("site_cpu_s") if isinstance(stats, dict) else None
        if outcome.status != Status.SCORED or not counted or not stats.get("cpu_accounting_complete"):
            entry.how = f"not calibrated: the baseline at local_steps {steps} ended {outcome.status} {outcome.reason}"
            log.warning("local compute: %s; no bound is held against this campaign's runs", entry.how)
            return entry
        shared = float(stats.get("unattributed_cpu_s") or 0.0)
        entry.site_cpu_s = {site: round(float(cpu) + shared, 3) for site, cpu in sorted(counted.items())}
        most = max(entry.site_cpu_s.values())
        entry.bound_s = round(FACTOR * most + MARGIN_S, 3)
        entry.how = (f"{FACTOR:g} x the baseline's most at local_steps.max {steps}, {most:.1f} s, "
                     f"+ {MARGIN_S:g} s; calibrated on {entry.machine}")
        log.info("local compute: bound %.1f s of CPU per site's client (%s)", entry.bound_s, entry.how)
        return entry


def cache_file(key: str) -> Path:
    """The machine-wide copy of a calibration (trusted code writes it; candidates never see the cache)."""
    return cache_dir() / "compute" / f"{key}.json"
