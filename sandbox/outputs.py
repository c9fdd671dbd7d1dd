"""What a phase may leave in its /out folder, checked on the host before anything reads it.

A container's /out is the one place candidate code can write that the host later reads.
Only the files the fixed harness writes are allowed, as plain files (no symlinks, hardlinks,
fifos or devices): a symlink named model.npz would make the host, or the next container's
bind mount, open whatever it points at; an extra score.json next to the real outputs would be
a forgery waiting for a careless reader.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from afr_box.sandbox.harness.paths import ALWAYS, OUTPUTS, PREDICTIONS, ROUND_METRICS
from afr_box.sandbox.harness.round_metrics import MAX_BYTES, RoundMetricsError, parse_round_metrics
from afr_box.tasks.shared.text import safe_text


def check_outputs(out: Path, phase: str, eval_sites: list[str]) -> str:
    """'' when `out` holds only what `phase` may write; otherwise the first problem found (names
    escaped: a file name is candidate text, possibly not even UTF-8)."""
    return safe_text(_first_problem(out, phase, eval_sites))


def _first_problem(out: Path, phase: str, eval_sites: list[str]) -> str:
    allowed = OUTPUTS[phase] | ALWAYS
    site_files = {f"{site}.npy" for site in eval_sites}
    for folder, dirs, files in os.walk(out):
        rel_folder = Path(folder).relative_to(out)
        for name in sorted(dirs + files):
            rel = (rel_folder / name).as_posix()
            st = os.lstat(os.path.join(folder, name))
            problem = not_plain(os.path.join(folder, name), rel, st)
            if problem:
                return problem
            is_dir = stat.S_ISDIR(st.st_mode)
            expected = (rel in allowed and (is_dir == (rel == PREDICTIONS))) or (
                rel.startswith(PREDICTIONS + "/") and rel.count("/") == 1 and name in site_files and not is_dir)
            if not expected:
                return f"unexpected {'folder' if is_dir else 'file'} {rel} in the {phase} outputs " \
                       f"(the harness writes only {', '.join(sorted(OUTPUTS[phase]))})"
    return _check_round_metrics(out / ROUND_METRICS) if phase == "train" else ""


def _check_round_metrics(path: Path) -> str:
    """'' when round_metrics.json is absent or within its rules (finite numbers, bounded size):
    the runner writes only such a file, so anything else was put there by candidate code."""
    if not path.is_file():
        return ""
    with open(path, "rb") as f:  # a plain file by now (checked above), read no further than the limit
        data = f.read(MAX_BYTES + 1)
    try:
        parse_round_metrics(data)
    except RoundMetricsError as exc:
        return f"{ROUND_METRICS}: {exc}"
    return ""


def not_plain(path: str, rel: str, st: os.stat_result) -> str:
    """'' for a folder or a plain file with one link; otherwise what it is."""
    if stat.S_ISLNK(st.st_mode):
        return f"{rel} is a symlink (to {os.readlink(path)!r}); outputs must be plain files"
    is_dir = stat.S_ISDIR(st.st_mode)
    if not is_dir and not stat.S_ISREG(st.st_mode):
        return f"{rel} is a special file (mode {stat.filemode(st.st_mode)}); outputs must be plain files"
    if not is_dir and st.st_nlink != 1:
        return f"{rel} is a hardlink ({st.st_nlink} links); outputs must be plain files"
    return ""


def pack_outputs(out: Path, limit_bytes: int) -> tuple[dict, str]:
    """/out as plain data to carry from a cluster node back to the orchestrator:
    ({"dirs": [...], "files": {rel: bytes}}, '') or ({}, the first problem).

    Only folders and plain files travel, checked by lstat before anything is opened (the same
    rule as check_outputs); the allow-list itself is checked on the orchestrator after unpacking.
    """
    packed: dict = {"dirs": [], "files": {}}
    total = 0
    for folder, dirs, files in os.walk(out):
        rel_folder = Path(folder).relative_to(out)
        for name in sorted(dirs + files):
            full, rel = os.path.join(folder, name), (rel_folder / name).as_posix()
            st = os.lstat(full)
            problem = not_plain(full, rel, st)
            if problem:
                return {}, safe_text(problem)
            if stat.S_ISDIR(st.st_mode):
                packed["dirs"].append(rel)
                continue
            total += st.st_size
            if total > limit_bytes:
                return {}, f"outputs exceed the policy's out_size ({limit_bytes} bytes)"
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                packed["files"][rel] = f.read(limit_bytes + 1)
    return packed, ""


def unpack_outputs(packed: dict, dest: Path) -> str:
    """Write what pack_outputs carried into `dest` (the orchestrator's record folder, or a node's
    staged inputs); '' or the problem. Modes are set explicitly (folders 755, files 644), whatever
    the umask, so a container user can read staged inputs."""
    for rel in [*packed.get("dirs", []), *packed.get("files", {})]:
        parts = Path(rel).parts
        if not parts or Path(rel).is_absolute() or ".." in parts:
            return f"{rel!r} is not a path inside /out"
    for rel in packed.get("dirs", []):
        (dest / rel).mkdir(parents=True, exist_ok=True)
        os.chmod(dest / rel, 0o755)
    for rel, data in packed.get("files", {}).items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)
            f.write(data)
    return ""
