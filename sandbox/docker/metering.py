"""Peak memory of a running container, read from its cgroup (v1 or v2) by a polling thread.

Besides the cgroup's high-water mark, memory.stat is polled and split in two, each with its own
peak: **anon** (anonymous memory plus tmpfs/shmem: what the processes hold and the kernel cannot
drop without swap; what a memory limit really bounds) and **page cache** (file pages, e.g. the
prepared data read through mmap: the kernel drops them under pressure instead of killing).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

CGROUP = Path("/sys/fs/cgroup")


def _stat_files(container_id: str) -> list[Path]:
    return [
        CGROUP / "memory" / "docker" / container_id / "memory.stat",
        CGROUP / "memory" / "system.slice" / f"docker-{container_id}.scope" / "memory.stat",
        CGROUP / "docker" / container_id / "memory.stat",
        CGROUP / "system.slice" / f"docker-{container_id}.scope" / "memory.stat",
    ]


def split_stat(text: str) -> tuple[int, int]:
    """(anon incl. shmem, page cache excl. shmem) in bytes from a memory.stat (v1 or v2)."""
    stat = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stat[parts[0]] = int(parts[1])
    if "total_rss" in stat:  # v1, hierarchical totals
        shmem = stat.get("total_shmem", 0)
        return stat["total_rss"] + shmem, max(stat.get("total_cache", 0) - shmem, 0)
    shmem = stat.get("shmem", 0)  # v2: file includes shmem
    return stat.get("anon", 0) + shmem, max(stat.get("file", 0) - shmem, 0)


def _peak_files(container_id: str) -> list[Path]:
    return [
        CGROUP / "memory" / "docker" / container_id / "memory.max_usage_in_bytes",  # v1, cgroupfs driver
        CGROUP / "memory" / "system.slice" / f"docker-{container_id}.scope" / "memory.max_usage_in_bytes",
        CGROUP / "docker" / container_id / "memory.peak",  # v2
        CGROUP / "system.slice" / f"docker-{container_id}.scope" / "memory.peak",
    ]


class PeakMemory:
    """Polls the container's cgroup high-water mark until stopped; None where unreadable."""

    def __init__(self, container_id: str, interval_s: float = 0.25):
        self.files = _peak_files(container_id)
        self.stat_files = _stat_files(container_id)
        self.interval_s = interval_s
        self.peak: Optional[int] = None
        self.peak_anon: Optional[int] = None
        self.peak_cache: Optional[int] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _poll(self) -> None:
        while True:
            for f in self.files:
                try:
                    self.peak = max(self.peak or 0, int(f.read_text()))
                    break
                except (OSError, ValueError):
                    continue
            for f in self.stat_files:
                try:
                    anon, cache = split_stat(f.read_text())
                except OSError:
                    continue
                self.peak_anon, self.peak_cache = max(self.peak_anon or 0, anon), max(self.peak_cache or 0, cache)
                break
            if self._stop.wait(self.interval_s):
                return


def _tree_rss(root: int) -> int:
    """Resident memory (bytes) of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * 4096
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


class ProcessTreePeak(PeakMemory):
    """Peak summed RSS of a host process tree (the bare-runner baseline of the benchmark)."""

    def __init__(self, pid: int, interval_s: float = 0.25):
        super().__init__("", interval_s)
        self.pid = pid

    def _poll(self) -> None:
        while True:
            self.peak = max(self.peak or 0, _tree_rss(self.pid))
            if self._stop.wait(self.interval_s):
                return
