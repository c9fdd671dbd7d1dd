"""Peak memory of a running container, read from its cgroup (v1 or v2) by a polling thread."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

CGROUP = Path("/sys/fs/cgroup")


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
        self.interval_s = interval_s
        self.peak: Optional[int] = None
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
