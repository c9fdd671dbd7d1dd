"""Surface snapshots: a policy's surface resolved to the baseline files, the baseline snapshot,
proposed edits written into a snapshot, and a snapshot's hash and diff against the baseline."""
from __future__ import annotations

import difflib
import os
import shutil
import stat
from pathlib import Path

from afr_box.orchestrator.gate.checks import bad_path_reason, glob_matches
from afr_box.policies.schema import Policy
from afr_box.tasks.shared.hashing import hash_tree, tree_digest
from afr_box.tasks.shared.layout import baseline_files, repo_file


def resolve_surface(task: str, policy: Policy) -> list[str]:
    """The baseline surface paths (see tasks/shared/layout.py) that the policy lets a candidate replace."""
    globs = policy.globs_for(task)
    return [rel for rel in baseline_files(task) if any(glob_matches(g, rel) for g in globs)]


def baseline_snapshot(task: str, policy: Policy, dest: Path) -> Path:
    """Copy the baseline surface files into `dest` (the complete surface, not a diff)."""
    shutil.rmtree(dest, ignore_errors=True)
    files = baseline_files(task)
    for rel in resolve_surface(task, policy):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[rel], dest / rel)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def apply_edits(snapshot: Path, edits: dict[str, str]) -> str:
    """Write proposed edits ({surface path: text}) into `snapshot`. Every path is checked
    first (relative, no '..', plain names, no symlinked folder on the way) and nothing is
    written if one fails: returns why, or '' when all were written. Whether a path is inside
    the policy surface is the gate's call, on the result."""
    for rel in edits:
        why = bad_path_reason(rel) or _through_link(snapshot, rel)
        if why:
            return f"{rel!r}: {why}"
    for rel, text in edits.items():
        target = snapshot.joinpath(*rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    return ""


def _through_link(snapshot: Path, rel: str) -> str:
    """Why writing `rel` would leave the snapshot through a symlink or hit a non-file, or ''."""
    here = snapshot
    parts = rel.split("/")
    for i, part in enumerate(parts):
        here = here / part
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            return ""
        last = i == len(parts) - 1
        if stat.S_ISLNK(st.st_mode) or not (stat.S_ISREG(st.st_mode) if last else stat.S_ISDIR(st.st_mode)):
            return f"{'/'.join(parts[:i + 1])} is a symlink or special file in the snapshot"
    return ""


def surface_hash(snapshot: Path) -> str:
    """The content id of a snapshot (its image tag and the results.tsv `commit` come from it)."""
    return tree_digest(hash_tree(snapshot))


def surface_diff(snapshot: Path) -> str:
    """Unified diff of each surface file against the baseline file it replaces."""
    out = []
    for rel in sorted(hash_tree(snapshot)):
        new = (snapshot / rel).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        base_file = repo_file(rel)
        old = base_file.read_text().splitlines(keepends=True) if base_file.is_file() else []
        out.extend(difflib.unified_diff(old, new, f"baseline/{rel}", f"candidate/{rel}"))
    return "".join(out)
