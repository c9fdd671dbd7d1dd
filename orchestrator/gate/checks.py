"""The gate: host-side checks of a surface snapshot before anything is built or run.

A surface snapshot is a directory of surface paths (`heart/knobs.yaml`, `heart/client.py`,
`shared/aggregators.py`: tasks/shared/layout.py) holding the complete set of surface files a
candidate proposes. `gate_snapshot` runs on the host, on the proposal itself, and never executes
candidate code: files are listed with lstat (links never followed), held to the policy's size
limits from what lstat says (st_size, and st_blocks for space allocated beyond it) before a byte
is read, then read once each with O_NOFOLLOW, decoded, compiled (not run) and parsed. What it
passes is those bytes (`GateResult.files`) and their hash: the private copy, the diff and the
image are made from them, never from the proposal's folder again.

Checks run in order and stop at the first failure; each is a small function that returns
`(passed, detail)`. A failed gate is an answer, not an error: bad candidate input gives
`GateResult(ok=False, reason=...)`, where the reason names the check, the file and the rule.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from afr_box.orchestrator.gate.contract import check_client_contract, check_job_contract
from afr_box.policies.schema import Policy, SurfaceLimits
from afr_box.profiles.schema import BUDGET_KEYS, Profile
from afr_box.tasks.shared.bounded_yaml import YamlLimitError, load_bounded
from afr_box.tasks.shared.hashing import sha256_bytes, tree_digest
from afr_box.tasks.shared.text import safe_text

KNOBS_FILE = "knobs.yaml"
NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
MAX_NAME_BYTES = 255
# Bounds on the walk itself, whatever the policy says, so a hostile tree cannot stall the gate.
MAX_WALK_ENTRIES = 4096
MAX_WALK_DEPTH = 16
ALLOCATION_SLACK = 64 * 1024  # allocated space within this rounding of a file's size is just its blocks
# Python start-up hooks: modules imported automatically, and .pth files whose lines run.
STARTUP_MODULES = frozenset({"sitecustomize", "usercustomize"})

Check = tuple[bool, str]

# The gate's checks in the order they run, with what each refuses (for policy reviews).
GATE_CHECKS = {
    "file-types": "only regular files (one link) and directories; symlinks, hardlinks, devices, fifos refused",
    "paths": "relative paths of [A-Za-z0-9_.-] names; absolute paths, '..', odd bytes refused",
    "surface": "every file matches one of the policy's surface globs",
    "limits": "the policy's file count and size limits",
    "text": "UTF-8 text without NUL bytes; Python files compile (never run)",
    "startup-hooks": "no sitecustomize, usercustomize or .pth files",
    "contract": "client.py and job.py keep the NVFlare contract (no hard-coded budget)",
    "knobs": "the knobs file is a mapping without budget fields (loaded with alias/depth/size limits); "
             "local_steps within the profile's bounds",
}


@dataclass(frozen=True)
class GateResult:
    """The gate's answer for one snapshot. `reason` is the first failing check ("" when ok);
    `checks` lists (name, passed, detail) of every check that ran, for the candidate record."""

    ok: bool
    reason: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)   # when ok: the gated bytes, by surface path
    surface_hash: str = ""                                   # when ok: their content id (surface_hash)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why): keep_going only


@dataclass(frozen=True)
class Entry:
    """One thing found in the snapshot: `rel` is its POSIX path relative to the snapshot root."""

    rel: str
    is_dir: bool
    size: int
    allocated: int = 0  # bytes on disk (st_blocks * 512): a preallocated file holds more than its size

    @property
    def footprint(self) -> int:
        """What the file costs the host: its size, or the space allocated to it where that is larger
        than its size can explain. A sparse file's size counts whole (copying it would write it)."""
        return self.allocated if self.allocated > -(-self.size // ALLOCATION_SLACK) * ALLOCATION_SLACK else self.size


# --------------------------------------------------------------------------- 1. file types


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "symlink"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def walk_snapshot(root: Path) -> tuple[Check, list[Entry]]:
    """List the snapshot without following links; only regular files (one link) and directories."""
    try:
        st = os.lstat(root)
    except OSError as exc:
        return (False, f"snapshot {root} cannot be read ({exc.strerror})"), []
    if not stat.S_ISDIR(st.st_mode):
        return (False, f"snapshot {root} is a {_kind(st.st_mode)}, not a directory"), []
    entries: list[Entry] = []
    stack: list[tuple[str, str, int]] = [(os.fspath(root), "", 0)]
    while stack:
        path, rel_dir, depth = stack.pop()
        if depth >= MAX_WALK_DEPTH:
            return (False, f"{rel_dir or '.'}: directories nested deeper than {MAX_WALK_DEPTH}"), []
        try:
            with os.scandir(path) as it:
                children = list(it)
        except OSError as exc:
            return (False, f"{rel_dir or '.'}: cannot be listed ({exc.strerror})"), []
        for child in sorted(children, key=lambda e: e.name):
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            try:
                cst = os.lstat(child.path)
            except OSError as exc:
                return (False, f"{rel!r}: cannot be read ({exc.strerror})"), []
            if stat.S_ISDIR(cst.st_mode):
                entries.append(Entry(rel, True, 0))
                stack.append((child.path, rel, depth + 1))
            elif stat.S_ISREG(cst.st_mode):
                if cst.st_nlink > 1:
                    return (False, f"{rel!r}: is a hardlink ({cst.st_nlink} links); only plain files with "
                                   f"one link are accepted"), []
                entries.append(Entry(rel, False, cst.st_size, cst.st_blocks * 512))
            else:
                return (False, f"{rel!r}: is a {_kind(cst.st_mode)}; only regular files and directories "
                               f"are accepted"), []
            if len(entries) > MAX_WALK_ENTRIES:
                return (False, f"more than {MAX_WALK_ENTRIES} entries in the snapshot"), []
    entries.sort(key=lambda e: e.rel)
    files = sum(not e.is_dir for e in entries)
    return (True, f"{files} regular files, {len(entries) - files} directories, no links or devices"), entries


# --------------------------------------------------------------------------- 2. path names


def bad_path_reason(rel: str) -> Optional[str]:
    """Why `rel` is not a clean relative POSIX path of plain names, or None if it is."""
    if not rel:
        return "empty path"
    if rel.startswith("/"):
        return "absolute path"
    for part in rel.split("/"):
        if part in ("", ".", ".."):
            return f"path component {part!r} (empty, '.' or '..')"
        if not NAME_RE.fullmatch(part):
            return f"name {part!r} has characters outside [A-Za-z0-9_.-]"
        if part.startswith("-"):
            return f"name {part!r} starts with '-'"
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            return f"name longer than {MAX_NAME_BYTES} bytes"
    return None


def check_paths(entries: list[Entry]) -> Check:
    for e in entries:
        why = bad_path_reason(e.rel)
        if why:
            return False, f"{e.rel!r}: {why}"
    return True, "all paths are relative, clean and use [A-Za-z0-9_.-] names"


# --------------------------------------------------------------------------- 3. policy surface


def glob_matches(pattern: str, rel: str) -> bool:
    """fnmatch per path component: no wildcard crosses '/'."""
    pat_parts, rel_parts = pattern.split("/"), rel.split("/")
    return len(pat_parts) == len(rel_parts) and all(fnmatchcase(r, p) for p, r in zip(pat_parts, rel_parts))


def check_surface(entries: list[Entry], globs: list[str]) -> Check:
    files = [e.rel for e in entries if not e.is_dir]
    for rel in files:
        if not any(glob_matches(g, rel) for g in globs):
            return False, f"{rel}: outside the policy surface (allowed: {', '.join(globs)})"
    holding = {rel.rsplit("/", i)[0] for rel in files for i in range(1, rel.count("/") + 1)}
    for e in entries:
        if e.is_dir and e.rel not in holding:
            return False, f"{e.rel}/: a directory with no surface file in it; remove it"
    return True, f"{len(files)} files inside {', '.join(globs)}"


# --------------------------------------------------------------------------- 4. limits


def check_limits(entries: list[Entry], limits: SurfaceLimits) -> Check:
    files = [e for e in entries if not e.is_dir]
    if len(files) > limits.max_files:
        return False, f"{len(files)} files; the policy allows at most {limits.max_files}"
    for e in files:
        if e.footprint > limits.max_file_bytes:
            what = f"{e.size} bytes" if e.footprint == e.size else f"{e.footprint} bytes allocated on disk"
            return False, f"{e.rel}: {what}; the policy allows at most {limits.max_file_bytes} per file"
    total = sum(e.footprint for e in files)
    if total > limits.max_total_bytes:
        return False, f"{total} bytes in all; the policy allows at most {limits.max_total_bytes}"
    return True, f"{len(files)} files, {total} bytes, within {limits.max_files} files / " \
                 f"{limits.max_file_bytes} per file / {limits.max_total_bytes} in all"


# --------------------------------------------------------------------------- 5. text


def read_files(root: Path, entries: list[Entry], max_bytes: int) -> tuple[Check, dict[str, bytes]]:
    """Read every file without following links; refuse one that changed since it was listed."""
    data: dict[str, bytes] = {}
    for e in entries:
        if e.is_dir:
            continue
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(os.path.join(root, *e.rel.split("/")), flags)
        except OSError as exc:
            return (False, f"{e.rel}: cannot be opened as a plain file ({exc.strerror})"), {}
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size != e.size:
                return (False, f"{e.rel}: changed while being gated"), {}
            chunks, left = [], max_bytes + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
        blob = b"".join(chunks)
        if len(blob) != e.size:
            return (False, f"{e.rel}: changed while being gated"), {}
        data[e.rel] = blob
    return (True, f"read {len(data)} files"), data


def _text_problem(rel: str, blob: bytes) -> tuple[Optional[str], str]:
    """(why `blob` is not a surface text, or None; its text)."""
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{rel}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8", ""
    if "\x00" in text:
        return f"{rel}: contains NUL bytes; surface files are text", ""
    if rel.endswith(".py"):
        try:
            compile(text, rel, "exec", dont_inherit=True)  # builds a code object; runs nothing
        except SyntaxError as exc:
            return f"{rel}:{exc.lineno or 0}: {type(exc).__name__}: {exc.msg}", ""
        except (ValueError, RecursionError, MemoryError) as exc:
            return f"{rel}: does not compile ({type(exc).__name__})", ""
    return None, text


def text_problems(blobs: dict[str, bytes]) -> tuple[list[str], dict[str, str]]:
    """Every file that is not UTF-8 text or does not compile, and the texts of the others."""
    problems, texts = [], {}
    for rel, blob in blobs.items():
        why, text = _text_problem(rel, blob)
        if why:
            problems.append(why)
        else:
            texts[rel] = text
    return problems, texts


def check_text(blobs: dict[str, bytes]) -> tuple[Check, dict[str, str]]:
    problems, texts = text_problems(blobs)
    if problems:
        return (False, problems[0]), {}
    py = sum(r.endswith(".py") for r in texts)
    return (True, f"{len(texts)} files are UTF-8; {py} Python files compile"), texts


# --------------------------------------------------------------------------- 6. start-up hooks


def startup_hook_reason(name: str) -> Optional[str]:
    low = name.lower()
    if low.endswith(".pth"):
        return "a .pth file (its import lines run at Python start-up)"
    if low.split(".")[0] in STARTUP_MODULES:
        return f"{low.split('.')[0]} is imported automatically at Python start-up"
    return None


def check_startup_hooks(entries: list[Entry]) -> Check:
    for e in entries:
        why = startup_hook_reason(e.rel.rsplit("/", 1)[-1])
        if why:
            return False, f"{e.rel}: forbidden name: {why}"
    return True, "no sitecustomize, usercustomize or .pth"


# --------------------------------------------------------------------------- 7. NVFlare contract


def contract_problems(texts: dict[str, str]) -> tuple[list[str], list[str]]:
    """(the first contract violation of each client.py/job.py that breaks it, the files checked)."""
    problems, checked = [], []
    for rel, text in texts.items():
        if glob_matches("*/client.py", rel):
            violations = check_client_contract(text, rel)
        elif glob_matches("*/job.py", rel):
            violations = check_job_contract(text, rel)
        else:
            continue
        checked.append(rel)
        if violations:
            more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
            problems.append(violations[0] + more)
    return problems, checked


def check_contracts(texts: dict[str, str], every_file: bool = False) -> Check:
    problems, checked = contract_problems(texts)
    if problems:
        return False, "; ".join(problems) if every_file else problems[0]
    return True, f"contract kept by {', '.join(checked)}" if checked else "no client.py or job.py in the snapshot"


# --------------------------------------------------------------------------- 8. knobs


def _norm_key(key: str) -> str:
    return key.strip().lower().replace("-", "_")


def _budget_key_path(value: Any, path: str, seen: set[int], depth: int = 0) -> Optional[str]:
    """The first key (dotted path) anywhere in `value` that names a budget field."""
    if depth > 32 or id(value) in seen:
        return None
    if isinstance(value, dict):
        seen.add(id(value))
        for key, sub in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _norm_key(key) in BUDGET_KEYS:
                return here
            found = _budget_key_path(sub, here, seen, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        seen.add(id(value))
        for i, sub in enumerate(value):
            found = _budget_key_path(sub, f"{path}[{i}]", seen, depth + 1)
            if found:
                return found
    return None


def check_knobs(texts: dict[str, str], task: str, profile: Profile) -> Check:
    rel = f"{task}/{KNOBS_FILE}"
    if rel not in texts:
        return False, f"{rel}: missing; a snapshot is the complete surface and must hold the task's knobs file"
    try:
        knobs = load_bounded(texts[rel])
    except YamlLimitError as exc:
        return False, f"{rel}: YAML refused: {exc}"
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        return False, f"{rel}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})"
    except (RecursionError, MemoryError, ValueError) as exc:
        return False, f"{rel}: YAML cannot be loaded ({type(exc).__name__})"
    if knobs is None:
        knobs = {}
    if not isinstance(knobs, dict):
        return False, f"{rel}: must be a mapping of knob: value, got {type(knobs).__name__}"
    for key in knobs:
        if not isinstance(key, str):
            return False, f"{rel}: knob names must be strings, got {key!r}"
    budget_key = _budget_key_path(knobs, "", set())
    if budget_key:
        return False, (f"{rel}: sets {budget_key!r}, a budget field; remove it (the budget comes from "
                       f"profile {profile.task!r}, never from the surface)")
    if "local_steps" in knobs:
        steps, bounds = knobs["local_steps"], profile.budget.local_steps
        if type(steps) is not int:
            return False, f"{rel}: local_steps must be an integer, got {steps!r}"
        if not bounds.min <= steps <= bounds.max:
            return False, (f"{rel}: local_steps {steps} outside the profile's bounds "
                           f"[{bounds.min}, {bounds.max}]")
    return True, f"{rel}: {len(knobs)} knobs, no budget field" + (
        f", local_steps {knobs['local_steps']} within bounds" if "local_steps" in knobs else "")


# --------------------------------------------------------------------------- the gate


def with_edits(entries: list[Entry], edits: dict[str, str]) -> list[Entry]:
    """The listing once `edits` ({surface path: text}) replace or add files (paths checked next)."""
    entries = [e for e in entries if e.rel not in edits]
    listed = {e.rel for e in entries}
    for rel, text in edits.items():
        entries.append(Entry(rel, False, len(text.encode("utf-8", "surrogateescape"))))
        parts = rel.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder not in listed:
                listed.add(folder)
                entries.append(Entry(folder, True, 0))
    return sorted(entries, key=lambda e: e.rel)


def gate_snapshot(snapshot: Path, task: str, policy: Policy, profile: Profile,
                  edits: Optional[dict[str, str]] = None, keep_going: bool = False) -> GateResult:
    """Run every check on `snapshot` (with `edits` applied in memory) in order; stop at the first
    failure. Never raises on bad candidate input: a snapshot that cannot be checked is a rejected
    one. When it passes, `files` holds the very bytes that were checked.

    `keep_going` (`afr-box check`): every check whose input could be made runs, so one answer names
    every problem: the text check reports each file that does not compile, and the contract and
    knobs checks run on the files that did; a check that cannot run is listed in `skipped`."""
    checks: list[tuple[str, bool, str]] = []
    skipped: list[tuple[str, str]] = []
    state: dict[str, Any] = {}
    edits = edits or {}

    def layout() -> Check:
        result, entries = walk_snapshot(Path(snapshot))
        if result[0]:
            state["entries"] = with_edits(entries, edits)
        return result

    def text() -> Check:
        on_disk = [e for e in state["entries"] if e.rel not in edits]
        result, blobs = read_files(Path(snapshot), on_disk, policy.limits.max_file_bytes)
        if not result[0]:
            return result
        blobs = {**blobs, **{rel: t.encode("utf-8", "surrogateescape") for rel, t in edits.items()}}
        state["blobs"] = blobs
        if not keep_going:
            result, state["texts"] = check_text(blobs)
            return result
        problems, state["texts"] = text_problems(blobs)  # the files that are text go on to the contract
        return (False, "; ".join(problems)) if problems else check_text(blobs)[0]

    # (name, the state it needs, the check)
    steps: list[tuple[str, str, Callable[[], Check]]] = [
        ("file-types", "", layout),
        ("paths", "entries", lambda: check_paths(state["entries"])),
        ("surface", "entries", lambda: check_surface(state["entries"], policy.globs_for(task))),
        ("limits", "entries", lambda: check_limits(state["entries"], policy.limits)),  # from lstat: nothing read yet
        ("text", "entries", text),
        ("startup-hooks", "entries", lambda: check_startup_hooks(state["entries"])),
        ("contract", "texts", lambda: check_contracts(state["texts"], every_file=keep_going)),
        ("knobs", "texts", lambda: check_knobs(state["texts"], task, profile)),
    ]
    for name, needs, step in steps:
        if needs and needs not in state:
            skipped.append((name, f"not run: the {'file list' if needs == 'entries' else 'file texts'} "
                                  f"could not be made"))
            continue
        try:
            passed, detail = step()
        except Exception as exc:  # a gate bug or an input no check foresaw: reject, never raise
            passed, detail = False, f"could not be checked ({type(exc).__name__}: {exc})"
        detail = safe_text(detail)  # one line, bounded and inert, whatever the input put in it
        checks.append((name, passed, detail))
        if not passed and not keep_going:
            return GateResult(ok=False, reason=f"{name}: {detail}", checks=checks)
    failed = next(((n, d) for n, p, d in checks if not p), None)
    if failed is not None:
        return GateResult(ok=False, reason=f"{failed[0]}: {failed[1]}", checks=checks, skipped=skipped)
    files = state["blobs"]
    return GateResult(ok=True, reason="", checks=checks, files=files, surface_hash=files_hash(files), skipped=skipped)


def files_hash(files: dict[str, bytes]) -> str:
    """The content id of a set of surface files: the same as surface_hash of a folder holding them."""
    return tree_digest({rel: sha256_bytes(blob) for rel, blob in files.items()})
