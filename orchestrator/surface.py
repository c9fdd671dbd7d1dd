"""A policy's surface resolved to a task's real files, and the baseline snapshot."""
from __future__ import annotations

import shutil
from pathlib import Path

from afr_box.orchestrator.gates import glob_matches
from afr_box.policies.schema import Policy
from afr_box.sandbox.surface_import import TASKS_DIR


def resolve_surface(task: str, policy: Policy) -> list[str]:
    """The baseline files (relative to tasks/) that the policy lets a candidate replace."""
    files = []
    for folder in (task, "shared"):
        for path in sorted((TASKS_DIR / folder).rglob("*")):
            rel = path.relative_to(TASKS_DIR).as_posix()
            if path.is_file() and "__pycache__" not in rel and any(glob_matches(g, rel) for g in policy.globs_for(task)):
                files.append(rel)
    return files


def baseline_snapshot(task: str, policy: Policy, dest: Path) -> Path:
    """Copy the baseline surface files into `dest` (the complete surface, not a diff)."""
    shutil.rmtree(dest, ignore_errors=True)
    for rel in resolve_surface(task, policy):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TASKS_DIR / rel, dest / rel)
    dest.mkdir(parents=True, exist_ok=True)
    return dest
