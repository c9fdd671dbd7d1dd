"""The Docker executor: runs one hardened container to completion or its timeout."""
from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Optional

from afr_box.policies.schema import size_bytes
from afr_box.sandbox.docker.engine import connect
from afr_box.sandbox.docker.layers import readable_upper_dir
from afr_box.sandbox.docker.metering import PeakMemory
from afr_box.sandbox.errors import SandboxError
from afr_box.sandbox.provider import Executor, Labels, Requirements, RunResult, label_filters
from afr_box.sandbox.spec import TMPFS, RunSpec, container_args, out_mount

LOG_TAIL_CHARS = 4000
WAIT_STEP_S = 1.0  # how often a running container's /out is measured


def tree_bytes(root: Path) -> int:
    """Bytes in the regular files under `root` (links not followed); 0 if it vanished."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


class DockerExecutor(Executor):
    def __init__(self, client=None):
        self.client = client or connect()
        self.started: list[str] = []  # ids of the containers this executor ran (for leftover checks)

    def for_another_slot(self) -> "DockerExecutor":
        return DockerExecutor()

    def run(self, spec: RunSpec, log_path: Path) -> RunResult:
        container = self.client.containers.create(**container_args(spec))
        self.started.append(container.id)
        start = time.monotonic()
        try:
            with PeakMemory(container.id) as memory:
                container.start()
                exit_code, timed_out, out_exceeded = self._wait(container, spec, start)
                if timed_out or out_exceeded:  # enforced from outside: the whole container goes
                    container.kill()
                    container.wait(timeout=60)
            wall = time.monotonic() - start
            container.reload()
            oom = bool(container.attrs["State"].get("OOMKilled"))
            logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            log_path.write_text(logs)
            mounts = {TMPFS, *(m.target for m in spec.mounts)}
            diff = [f"{kind} {path}" for kind, path in _changes(container)
                    if not _inside(path, tuple(mounts)) and not _mountpoint_parent(path, mounts)]
            return RunResult(exit_code=None if timed_out or out_exceeded else exit_code, timed_out=timed_out,
                             oom_killed=oom, wall_s=wall, fs_diff=diff, log_tail=logs[-LOG_TAIL_CHARS:],
                             peak_memory_bytes=memory.peak, out_exceeded=out_exceeded)
        finally:
            container.remove(force=True)

    @staticmethod
    def _wait(container, spec: RunSpec, start: float) -> tuple[Optional[int], bool, bool]:
        """(exit code, timed out, out quota exceeded): waits in short steps, measuring /out between
        them, because a bind mount has no size limit of its own."""
        import requests

        out = out_mount(spec)
        quota = size_bytes(spec.limits.out_size)
        while True:
            left = spec.timeout_s - (time.monotonic() - start)
            if left <= 0:
                return None, True, False
            try:
                return container.wait(timeout=min(WAIT_STEP_S, left))["StatusCode"], False, False
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                pass  # still running
            if out is not None and tree_bytes(out.source) > quota:
                return None, False, True

    def remove_containers(self, labels: Labels) -> int:
        import docker

        removed = 0
        for c in self.client.containers.list(all=True, filters={"label": label_filters(labels)}):
            try:
                c.remove(force=True)
                removed += 1
            except docker.errors.NotFound:
                pass  # gone meanwhile (another cleanup of the same campaign got there first)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: its removal is already in progress
                    raise
        return removed

    def runtimes(self) -> set[str]:
        return set((self.client.info().get("Runtimes") or {}).keys())

    def preflight(self, needs: Requirements) -> None:
        """A runtime the policy asks for is there, or nothing runs (no silent fallback)."""
        if needs.runtime and needs.runtime not in self.runtimes():
            raise SandboxError(f"the policy asks for container runtime {needs.runtime!r}, which this engine lacks "
                               f"(it has: {', '.join(sorted(self.runtimes())) or 'none'}); install it "
                               f"(gVisor: runsc install) or remove container.runtime from the policy")


_KIND = {0: "changed", 1: "added", 2: "deleted"}


def _changes(container) -> list[tuple[str, str]]:
    """The container's filesystem changes against its image.

    Read straight from the overlay2 upper directory when this process can (root on the engine
    host): it holds exactly the changes, and reading it takes milliseconds where the engine's
    diff walks the whole image (~1.5 s). Otherwise ask the engine.
    """
    upper = readable_upper_dir(container.attrs)
    if upper is not None:
        changes = []
        for root, dirs, files in os.walk(upper):
            for name in dirs + files:
                full = os.path.join(root, name)
                rel = "/" + os.path.relpath(full, upper)
                st = os.lstat(full)
                whiteout = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
                changes.append(("deleted" if whiteout else "changed" if name in dirs else "added", rel))
        return changes
    return [(_KIND.get(c["Kind"], str(c["Kind"])), c["Path"]) for c in (container.diff() or [])]


def _mountpoint_parent(path: str, mounts: set[str]) -> bool:
    """The engine creates mount points (and marks their parents changed) itself."""
    return any(m.startswith(path.rstrip("/") + "/") for m in mounts)


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)
