"""Who is using a campaign folder now, and which containers belong to which process.

- `in_use(folder)`: a context that holds a shared lock on `<folder>/campaign.lock` while a
  campaign, `try`, `repeat`, `heldout` or `replay` writes there (the kernel drops it when the
  process dies, kill -9 included). `busy(folder)` asks without waiting; `afr-box clean` and
  `du` never prune a busy folder without --force.
- `owner_label()`: the value of every container's `afr.owner` label (host, pid and the process
  start time, so a reused pid is not taken for the owner); `owner_alive` tells a running
  campaign's containers from leftovers.
- `folder_id(folder)`: the `afr.folder` label, unique to one campaign folder on one host, so a
  campaign's cleanup never touches the containers of another folder's campaign of the same name
  (two users, or two test runs, sharing one engine).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
from pathlib import Path
from typing import Iterator, Optional

from afr_box.orchestrator.records.layout import LOCK


def _start_ticks(pid: int) -> Optional[str]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]  # field 22: start time in clock ticks since boot


def owner_label(pid: Optional[int] = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '?'}"


def owner_alive(label: str) -> Optional[bool]:
    """Whether the process named by an `afr.owner` label still runs; None when it ran on another host."""
    host, _, rest = label.partition(":")
    pid, _, ticks = rest.partition(":")
    if host != socket.gethostname():
        return None
    if not pid.isdigit():
        return False
    now = _start_ticks(int(pid))
    return now is not None and (ticks == "?" or now == ticks)


def folder_id(folder: Path) -> str:
    key = f"{socket.gethostname()}:{Path(folder).resolve()}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@contextlib.contextmanager
def in_use(folder: Path) -> Iterator[None]:
    """Mark `folder` in use while the block runs (a shared lock: several users may hold it)."""
    with open(Path(folder) / LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def busy(folder: Path) -> bool:
    """Whether some process holds `folder` in use now (never waits)."""
    lock = Path(folder) / LOCK
    if not lock.is_file():
        return False
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False
