"""The Docker provider (docker-py): builds images and runs hardened containers."""
from __future__ import annotations

import io
import os
import stat
import tarfile
import time
from pathlib import Path
from typing import Optional

from afr_box.sandbox.errors import EngineUnavailableError, ImageBuildError
from afr_box.tasks.shared.hashing import sha256_file
from afr_box.sandbox.layers import top_layer_from_save
from afr_box.sandbox.metering import PeakMemory
from afr_box.sandbox.provider import ImageInfo, RunResult, SandboxProvider
from afr_box.policies.schema import size_bytes
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


def connect():
    import docker

    try:
        client = docker.from_env(timeout=300)
        client.ping()
        return client
    except Exception as exc:  # docker raises several unrelated types here
        raise EngineUnavailableError(
            f"cannot reach a Docker engine ({exc}). Start it (`dockerd >/tmp/dockerd.log 2>&1 &` as root, "
            "or `sudo systemctl start docker`) or set DOCKER_HOST, then run again."
        ) from None


class DockerProvider(SandboxProvider):
    name = "docker"

    def __init__(self, client=None):
        self.client = client or connect()
        self.started: list[str] = []  # ids of the containers this provider ran (for leftover checks)

    def build_image(self, context, dockerfile, tag, buildargs, labels) -> str:
        import docker

        try:
            image, _ = self.client.images.build(
                path=str(context), dockerfile=dockerfile, tag=tag, buildargs=buildargs,
                labels=labels, rm=True, forcerm=True, network_mode="none", pull=False,
            )
        except docker.errors.BuildError as exc:
            tail = "".join(chunk.get("stream", "") or chunk.get("error", "") for chunk in exc.build_log)[-LOG_TAIL_CHARS:]
            raise ImageBuildError(f"building {tag} failed: {exc.msg}\n{tail}") from None
        return image.id

    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> None:
        self.client.api.import_image_from_file(str(tarball), repository=repository, tag=tag)

    def image_info(self, ref: str) -> Optional[ImageInfo]:
        import docker

        try:
            img = self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        return ImageInfo(
            id=img.id, tags=list(img.tags), labels=dict(img.labels or {}),
            layers=list(img.attrs.get("RootFS", {}).get("Layers", [])), size=int(img.attrs.get("Size", 0)),
        )

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

    def remove_containers(self, labels: dict[str, Optional[str]]) -> int:
        import docker

        removed = 0
        for c in self.client.containers.list(all=True, filters={"label": _label_filters(labels)}):
            try:
                c.remove(force=True)
                removed += 1
            except docker.errors.NotFound:
                pass  # gone meanwhile (another cleanup of the same campaign got there first)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: its removal is already in progress
                    raise
        return removed

    def remove_images(self, labels: dict[str, Optional[str]]) -> int:
        found = self.client.images.list(filters={"label": _label_filters(labels)})
        for img in found:
            self.client.images.remove(img.id, force=True)
        return len(found)

    def top_layer(self, image: str) -> Optional[dict[str, str]]:
        import docker

        try:
            upper = _readable_upper_dir(self.client.images.get(image).attrs)
        except docker.errors.ImageNotFound:
            return None
        if upper is None:
            return None
        found = {}
        for root, dirs, files in os.walk(upper):
            for name in dirs + files:
                full = os.path.join(root, name)
                st = os.lstat(full)
                rel = os.path.relpath(full, upper)
                found[rel] = ("dir" if stat.S_ISDIR(st.st_mode) else "link" if stat.S_ISLNK(st.st_mode)
                              else sha256_file(Path(full)) if stat.S_ISREG(st.st_mode) else "other")
        return found

    def save_top_layer(self, image: str, dest: Path) -> bool:
        img = self.client.images.get(image)
        return top_layer_from_save(img.save(named=False), img.attrs["RootFS"]["Layers"][-1], dest)

    def runtimes(self) -> set[str]:
        return set((self.client.info().get("Runtimes") or {}).keys())

    def copy_from_image(self, image: str, path: str, dest: Path) -> Path:
        container = self.client.containers.create(image=image, command=["true"], network_disabled=True)
        try:
            stream, _ = container.get_archive(path)
            data = io.BytesIO(b"".join(stream))
        finally:
            container.remove(force=True)
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=data) as tar:
            tar.extractall(dest, filter="data")
        return dest


_KIND = {0: "changed", 1: "added", 2: "deleted"}


def _readable_upper_dir(attrs: dict) -> Optional[str]:
    """The overlay2 upper directory of an image or container (its own layer), if this process
    can read it (root on the engine host); None otherwise."""
    upper = (attrs.get("GraphDriver") or {}).get("Data", {}).get("UpperDir")
    return upper if upper and os.access(upper, os.R_OK | os.X_OK) else None


def _changes(container) -> list[tuple[str, str]]:
    """The container's filesystem changes against its image.

    Read straight from the overlay2 upper directory when this process can (root on the engine
    host): it holds exactly the changes, and reading it takes milliseconds where the engine's
    diff walks the whole image (~1.5 s). Otherwise ask the engine.
    """
    upper = _readable_upper_dir(container.attrs)
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


def _label_filters(labels: dict[str, Optional[str]]) -> list[str]:
    if not labels:
        raise ValueError("refusing to match containers without a label filter")
    return [k if v is None else f"{k}={v}" for k, v in labels.items()]


def _mountpoint_parent(path: str, mounts: set[str]) -> bool:
    """The engine creates mount points (and marks their parents changed) itself."""
    return any(m.startswith(path.rstrip("/") + "/") for m in mounts)


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)
