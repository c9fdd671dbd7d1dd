"""What a surface snapshot changed against another: files that differ, knobs key by key, and the
mechanism class of each file (knobs, client code, architecture, aggregator, job/recipe).

Read from the snapshots themselves (never from descriptions), so the report's improvement path
and attribution and the agent's campaign notebook agree on what a candidate changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from afr_box.tasks.shared.bounded_yaml import YamlLimitError, load_bounded
from afr_box.tasks.shared.hashing import hash_tree

# Surface file (the part after the task folder, or under shared/) -> mechanism class.
CLASSES = {
    "knobs.yaml": "knobs",
    "client.py": "client code",
    "local_training.py": "client code",
    "models.py": "architecture",
    "aggregators.py": "aggregator",
    "job.py": "job/recipe",
    "recipes.py": "job/recipe",
}
CLASS_ORDER = ("knobs", "client code", "architecture", "aggregator", "job/recipe", "other")


def mechanism(rel: str) -> str:
    return CLASSES.get(rel.rsplit("/", 1)[-1], "other")


@dataclass
class Change:
    files: list[str] = field(default_factory=list)          # surface files that differ
    knobs: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # knob -> (before, after)

    @property
    def classes(self) -> list[str]:
        found = {mechanism(f) for f in self.files}
        return [c for c in CLASS_ORDER if c in found]

    def describe(self) -> str:
        parts = [f"{k} {before!r} -> {after!r}" for k, (before, after) in sorted(self.knobs.items())]
        parts += [f"{f} ({mechanism(f)})" for f in self.files if mechanism(f) != "knobs"]
        return "; ".join(parts) or "no surface change"


def _knobs(snapshot: Path) -> dict[str, Any]:
    files = sorted(snapshot.glob("*/knobs.yaml"))
    if not files:
        return {}
    try:
        loaded = load_bounded(files[0].read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError:
        return {}
    except YamlLimitError:  # a candidate's file: never expanded here (the gate refused it anyway)
        return {}
    return loaded if isinstance(loaded, dict) else {}


def change_between(before: Path, after: Path) -> Change:
    a, b = hash_tree(before) if before.is_dir() else {}, hash_tree(after) if after.is_dir() else {}
    files = sorted(f for f in set(a) | set(b) if a.get(f) != b.get(f))
    knobs_a, knobs_b = _knobs(before), _knobs(after)
    knobs = {k: (knobs_a.get(k), knobs_b.get(k)) for k in set(knobs_a) | set(knobs_b) if knobs_a.get(k) != knobs_b.get(k)}
    return Change(files=files, knobs=knobs)
