"""Process hygiene inside a container: who else is running, make ourselves untouchable.

Every process in a candidate container runs as the same unprivileged user, so trusted
harness processes (the init, the runner) protect themselves by becoming non-dumpable: the
kernel then refuses ptrace, /proc/<pid>/mem and /proc/<pid>/environ access to them from
processes without CAP_SYS_PTRACE (dropped in every container).
"""
from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

PR_SET_DUMPABLE = 4
PROC = Path("/proc")


def make_undumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0). A no-op where libc or prctl is unavailable (not Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _name(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return "?"
    return raw[raw.find("(") + 1:raw.rfind(")")]


def stat_fields(stat: Path) -> list[str]:
    """A /proc/<pid>/stat (or task stat) file's fields after the command name: state, ppid, pgrp,
    session, ... ([] when it is gone). The name may hold spaces and parentheses: split after the last ")"."""
    try:
        raw = stat.read_text()
    except OSError:
        return []
    return raw[raw.rfind(")") + 2:].split()


def _state(stat: Path) -> str:
    fields = stat_fields(stat)
    return fields[0] if fields else ""


def _live(pid: int) -> bool:
    """Some task (thread) of `pid` still runs. A zombie leader does not make a process dead: its
    main thread may have exited (pthread_exit) while another thread runs on."""
    try:
        stats = [task / "stat" for task in (PROC / str(pid) / "task").iterdir()]
    except OSError:
        stats = [PROC / str(pid) / "stat"]
    return any(state not in "ZX" for state in map(_state, stats) if state)


def other_processes(exclude: set[int]) -> dict[int, str]:
    """Processes in this pid namespace with a live task, except `exclude`: {pid: command name}."""
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        if _live(int(entry.name)):
            found[int(entry.name)] = _name(int(entry.name))
    return found


def reap() -> None:
    """Collect exited children (an init must, or they stay zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def strays_after(exclude: set[int], grace_s: float = 1.0) -> dict[int, str]:
    """Processes still alive `grace_s` after the work that started them ended (exiting ones get
    that long to finish), then killed. Returns what was found, for the violation report."""
    deadline = time.monotonic() + grace_s
    while True:
        reap()
        found = other_processes(exclude)
        if not found or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    time.sleep(0.05)
    reap()
    return found


def describe(found: dict[int, str]) -> str:
    return ", ".join(f"pid {pid} ({name})" for pid, name in sorted(found.items())[:8]) + (
        f" and {len(found) - 8} more" if len(found) > 8 else "")
