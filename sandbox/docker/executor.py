"""The Docker executor: runs one hardened container to completion or its timeout.

Its /out is a tmpfs of its own whose size and inode count the kernel enforces (out_fs.py),
copied into the record's folder once the container is gone; its output is kept by the engine's
log driver up to the policy's log_size and read back as a bounded tail (never whole).
"""
from __future__ import annotations

import os
import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

from afr_box.policies.schema import size_bytes
from afr_box.sandbox.docker.engine import connect
from afr_box.sandbox.docker.layers import readable_upper_dir
from afr_box.sandbox.docker.metering import PeakMemory
from afr_box.sandbox.docker.out_fs import BoundedOut, check_mountable, release_stale_mounts
from afr_box.sandbox.errors import RunInterrupted, SandboxError
from afr_box.sandbox.provider import Executor, Labels, Requirements, RunResult, label_filters
from afr_box.sandbox.spec import TMPFS, Mount, RunSpec, container_args, out_mount
from afr_box.tasks.shared.text import safe_text

LOG_TAIL_CHARS = 4000
WAIT_STEP_S = 1.0  # how often a running container is checked for a stop


def bounded_logs(container, limit: int) -> str:
    """The container's output, at most its last `limit` bytes (read as a stream, never whole),
    made inert: it is candidate output, and someone will `cat` it."""
    kept, dropped = bytearray(), 0
    for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=False):
        kept += chunk
        if len(kept) > 2 * limit:
            dropped += len(kept) - limit
            del kept[:len(kept) - limit]
    if len(kept) > limit:
        dropped += len(kept) - limit
        del kept[:len(kept) - limit]
    text = kept.decode("utf-8", "replace")
    head = f"[afr-box: the first {dropped} bytes of this output are not kept (log_size)]\n" if dropped else ""
    return head + safe_text(text, limit=2 * limit, lines=True)


class DockerExecutor(Executor):
    def __init__(self, client=None, stopping=None):
        super().__init__(stopping)
        self.client = client or connect()
        self.started: list[str] = []  # ids of the containers this executor ran (for leftover checks)

    def for_another_slot(self) -> "DockerExecutor":
        return DockerExecutor(stopping=self.stopping)

    def run(self, spec: RunSpec, log_path: Path) -> RunResult:
        self.check_not_stopped(spec)
        out = out_mount(spec)
        if out is None:
            return self._run(spec, log_path)
        with BoundedOut(spec.limits) as bounded:
            mounts = [Mount(bounded.path, m.target, read_only=False) if m is out else m for m in spec.mounts]
            result = self._run(replace(spec, mounts=mounts), log_path)
            refused = bounded.collect(Path(out.source))  # the container is gone: nothing writes any more
        return replace(result, outputs_refused=refused) if refused else result

    def _run(self, spec: RunSpec, log_path: Path) -> RunResult:
        container = self.client.containers.create(**container_args(spec))
        self.started.append(container.id)
        start = time.monotonic()
        try:
            with PeakMemory(container.id) as memory:
                self.check_not_stopped(spec)  # stopped while it was being created
                container.start()
                exit_code, timed_out = self._wait(container, spec, start)
                self.check_not_stopped(spec)  # killed from outside by the stop's cleanup: nothing to report
                if timed_out:  # enforced from outside: the whole container goes
                    container.kill()
                    container.wait(timeout=60)
            wall = time.monotonic() - start
            container.reload()
            oom = bool(container.attrs["State"].get("OOMKilled"))
            logs = bounded_logs(container, size_bytes(spec.limits.log_size))
            log_path.write_text(logs, encoding="utf-8")
            mounts = {TMPFS, *(m.target for m in spec.mounts)}
            diff = [f"{kind} {path}" for kind, path in _changes(container)
                    if not _inside(path, tuple(mounts)) and not _mountpoint_parent(path, mounts)]
            return RunResult(exit_code=None if timed_out else exit_code, timed_out=timed_out,
                             oom_killed=oom, wall_s=wall, fs_diff=diff, log_tail=logs[-LOG_TAIL_CHARS:],
                             peak_memory_bytes=memory.peak, peak_anon_bytes=memory.peak_anon,
                             peak_cache_bytes=memory.peak_cache)
        finally:
            _remove(container)

    def _wait(self, container, spec: RunSpec, start: float) -> tuple[Optional[int], bool]:
        """(exit code, timed out): waits in short steps so that a stop kills the container at once."""
        import docker
        import requests

        while True:
            left = spec.timeout_s - (time.monotonic() - start)
            if left <= 0:
                return None, True
            try:
                return container.wait(timeout=min(WAIT_STEP_S, left))["StatusCode"], False
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                pass  # still running
            except docker.errors.NotFound:
                self.check_not_stopped(spec)  # removed by the stop's cleanup
                raise
            if self.stopping.is_set():  # the caller's finally removes it (kill included)
                raise RunInterrupted(f"{spec.name or spec.image}: stopped after {time.monotonic() - start:.1f} s")

    def remove_containers(self, labels: Labels) -> int:
        release_stale_mounts()  # the /out of an orchestrator killed mid-run
        found = self._listed(labels)
        for c in found:
            _remove(c)
        return len(found)

    def containers(self, labels: Labels) -> list[dict[str, str]]:
        return [{**(c.attrs.get("Labels") or {}), "id": c.id,
                 "running": str(c.attrs.get("State") in ("running", "restarting", "paused"))}
                for c in self._listed(labels)]

    def _listed(self, labels: Labels) -> list:
        """The engine's list as it answered (sparse: no inspection of each container, which fails
        for one removed meanwhile by another cleanup)."""
        return self.client.containers.list(all=True, filters={"label": label_filters(labels)}, sparse=True)

    def remove_container_ids(self, ids: list[str]) -> int:
        import docker

        release_stale_mounts()  # the /out of an orchestrator killed mid-run
        removed = 0
        for cid in ids:
            try:
                _remove(self.client.containers.get(cid))
                removed += 1
            except docker.errors.NotFound:
                pass
        return removed

    def runtimes(self) -> set[str]:
        return set((self.client.info().get("Runtimes") or {}).keys())

    def preflight(self, needs: Requirements) -> None:
        """A runtime the policy asks for is there, and /out can be mounted, or nothing runs (no
        silent fallback)."""
        check_mountable()
        if needs.runtime and needs.runtime not in self.runtimes():
            raise SandboxError(f"the policy asks for container runtime {needs.runtime!r}, which this engine lacks "
                               f"(it has: {', '.join(sorted(self.runtimes())) or 'none'}); install it "
                               f"(gVisor: runsc install) or remove container.runtime from the policy")


def _remove(container) -> None:
    import docker

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass  # removed meanwhile by a campaign's cleanup (Ctrl-C)
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: its removal is already in progress
            raise


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
