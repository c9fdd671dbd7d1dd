"""Scalar HPO: seeded random search over the profile's search space; writes only the knobs file."""
from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import yaml

from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.profiles.schema import Dimension, Profile


def sample_knobs(space: list[Dimension], base: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Sample each dimension in order; a dimension applies only when its `when` matches the
    values sampled so far (e.g. the AdamW lr range only when optimizer == adamw)."""
    knobs = dict(base)
    sampled: set[str] = set()
    for dim in space:
        if any(knobs.get(k) != v for k, v in dim.when.items()) or dim.knob in sampled:
            continue
        if dim.choices is not None:
            value: Any = rng.choice(dim.choices)
        elif dim.log:
            value = math.exp(rng.uniform(math.log(dim.low), math.log(dim.high)))
        else:
            value = rng.uniform(dim.low, dim.high)
        if dim.integer:
            value = int(round(value))
        elif isinstance(value, float):
            value = float(f"{value:.4g}")
        knobs[dim.knob] = value
        sampled.add(dim.knob)
    return knobs


class HpoProposer:
    name = "hpo"

    def __init__(self, task: str, policy, profile: Profile, seed: int):
        self.task, self.policy, self.profile, self.seed = task, policy, profile, seed

    def propose(self, index: int, workspace: Path, history=None) -> Proposal:
        snap = baseline_snapshot(self.task, self.policy, workspace / f"proposal-{index:04d}")
        knobs_file = snap / self.task / "knobs.yaml"
        base = yaml.safe_load(knobs_file.read_text())
        knobs = sample_knobs(self.profile.search_space, base, random.Random(f"{self.seed}:{index}"))
        knobs_file.write_text(f"# sampled by afr-box hpo (seed {self.seed}, candidate {index})\n"
                              + yaml.safe_dump(knobs, sort_keys=False, default_flow_style=None))
        changed = " ".join(f"{k}={v}" for k, v in knobs.items() if base.get(k) != v)
        return Proposal(snapshot=snap, description=f"hpo: {changed or 'baseline knobs'}", proposer=self.name)
