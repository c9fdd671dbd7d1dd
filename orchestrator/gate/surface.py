"""Surface snapshots: a policy's surface resolved to the baseline files, the baseline snapshot,
proposed edits written into a snapshot, the gated bytes kept as a read-only private copy, and a
snapshot's hash and diff against the baseline."""
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
    why = edit_paths_reason(edits) or next(
        (f"{rel!r}: {_through_link(snapshot, rel)}" for rel in edits if _through_link(snapshot, rel)), "")
    if why:
        return why
    for rel, text in edits.items():
        target = snapshot.joinpath(*rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    return ""


def edit_paths_reason(edits: dict[str, str]) -> str:
    """Why one of the edits' paths is not a clean relative surface path ('' when all are)."""
    for rel in edits:
        why = bad_path_reason(rel)
        if why:
            return f"{rel!r}: {why}"
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


def write_private_copy(dest: Path, files: dict[str, bytes]) -> Path:
    """The gated bytes as the candidate record's snapshot, read-only (files 0444, folders 0555):
    nothing reads it to build, and whoever proposed the candidate finds nothing left to rewrite."""
    dest.mkdir(parents=True)
    for rel, blob in sorted(files.items()):
        target = dest.joinpath(*rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
    for folder in sorted({p for p in dest.rglob("*") if p.is_dir()} | {dest}, key=lambda p: -len(p.parts)):
        os.chmod(folder, 0o555)
    return dest


def make_writable(tree: Path) -> None:
    """Undo a private copy's read-only bits (as its owner can): files 0644, folders 0755."""
    for folder, _, names in os.walk(tree):
        os.chmod(folder, 0o755)
        for name in names:
            os.chmod(os.path.join(folder, name), 0o644)


def working_copy(snapshot: Path, dest: Path) -> Path:
    """A writable copy of a (read-only) recorded snapshot for a proposer to edit."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(snapshot, dest, symlinks=True, copy_function=shutil.copyfile)
    make_writable(dest)
    return dest


def snapshot_files(folder: Path) -> dict[str, bytes]:
    """A recorded (already gated) snapshot's regular files by surface path (links are not followed)."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            full = Path(root) / name
            if stat.S_ISREG(full.lstat().st_mode):
                found[full.relative_to(folder).as_posix()] = full.read_bytes()
    return found


def surface_diff(files: "dict[str, bytes] | Path") -> str:
    """Unified diff of each surface file (gated bytes, or a recorded snapshot folder) against the
    baseline file it replaces."""
    if isinstance(files, Path):
        files = snapshot_files(files)
    out = []
    for rel in sorted(files):
        new = files[rel].decode("utf-8", errors="replace").splitlines(keepends=True)
        base_file = repo_file(rel)
        old = base_file.read_text().splitlines(keepends=True) if base_file.is_file() else []
        out.extend(difflib.unified_diff(old, new, f"baseline/{rel}", f"candidate/{rel}"))
    return "".join(out)
