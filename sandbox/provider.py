"""The sandbox interface: where images are kept, and where hardened containers run.

Two jobs, two small interfaces, as inspect_ai separates them:

- `ImageStore`: build, inspect, read a layer, save a layer, publish (push to a registry where
  containers run elsewhere), pull by digest, remove.
- `Executor`: run one `RunSpec` to completion (or its timeout) and report, remove a campaign's
  containers, list runtimes, preflight.

A `Sandbox` is one of each. Providers register by name in `sandbox/providers.py` (docker, ray;
Kubernetes Jobs or Slurm would be the next) and are chosen there, in one place; callers hold a
`Sandbox`, never a concrete class. What runs is a plain `RunSpec` (sandbox/spec.py), the same
for every provider.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from afr_box.sandbox.errors import RunInterrupted
from afr_box.sandbox.spec import RunSpec

Labels = dict[str, Optional[str]]  # value None: any value


def label_filters(labels: Labels) -> list[str]:
    """Engine label filters; refuses an empty filter (it would match every container)."""
    if not labels:
        raise ValueError("refusing to match containers without a label filter")
    return [k if v is None else f"{k}={v}" for k, v in labels.items()]


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: list[str]
    labels: dict[str, str]
    layers: list[str]
    size: int


@dataclass(frozen=True)
class RunResult:
    exit_code: Optional[int]
    timed_out: bool
    oom_killed: bool
    wall_s: float
    fs_diff: list[str] = field(default_factory=list)
    log_tail: str = ""
    peak_memory_bytes: Optional[int] = None
    peak_anon_bytes: Optional[int] = None    # anonymous + tmpfs: what the memory limit bounds
    peak_cache_bytes: Optional[int] = None   # page cache (data read through mmap): dropped under pressure
    # Where it ran, on a cluster: node, image reference pulled, GPUs, start/end (epoch seconds).
    placement: dict = field(default_factory=dict)
    # /out could not be carried back (a link, a special file, a deep tree): a violation, like check_outputs.
    outputs_refused: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed


@dataclass(frozen=True)
class Requirements:
    """What a campaign needs from where its containers run (checked before anything is written)."""

    runtime: str = ""                           # an OCI runtime the policy asks for (runsc), or ""
    gpus: int = 0                               # GPUs per candidate
    data_dirs: tuple[Path, ...] = ()            # prepared data that must be readable there
    base: Optional[ImageInfo] = None            # the base image every phase runs on


class ImageStore(ABC):
    """Where images are built and kept."""

    publishes = False  # True where images must be pushed to a registry before they can run

    @abstractmethod
    def build_image(self, context: Union[Path, bytes], dockerfile: str, tag: str,
                    buildargs: dict[str, str], labels: dict[str, str], network: bool = False) -> str:
        """Build `context` (whose content is exactly what the image may hold: a folder, or an
        in-memory tar of it); return the image id. The build has no network unless `network` (only
        the agent jail's package step asks for it; base and candidate images never do)."""

    @abstractmethod
    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> None:
        """Import a root-filesystem tarball as image `repository:tag` (the local OS base)."""

    @abstractmethod
    def image_info(self, ref: str) -> Optional[ImageInfo]:
        """Inspect an image by tag or id; None when absent."""

    @abstractmethod
    def tag(self, image_id: str, tag: str) -> None:
        """Give an image one more tag."""

    @abstractmethod
    def remove_images(self, labels: Labels) -> int:
        """Remove every image carrying all these labels; return how many."""

    @abstractmethod
    def list_images(self, labels: Labels) -> list[ImageInfo]:
        """Every image carrying all these labels."""

    @abstractmethod
    def remove_image(self, image_id: str) -> bool:
        """Remove one image unless a container uses it; True when it was removed (or already gone)."""

    @abstractmethod
    def probe(self, image: str, command: list[str]) -> tuple[int, str]:
        """Run `command` in `image` (no network, read-only, removed after) to learn what it holds;
        (exit code, output). Trusted images only: the base and the OS images it is built on."""

    @abstractmethod
    def top_layer(self, image: str) -> Optional[dict[str, str]]:
        """What the image's top layer itself holds, read from the store (not from a build
        context): {path: sha256, or "dir" / "link" / "other"}; None where unreadable."""

    @abstractmethod
    def save_top_layer(self, image: str, dest: Path) -> bool:
        """Write the image's own top layer (as a tar) to `dest`; False if it cannot be found."""

    @abstractmethod
    def copy_from_image(self, image: str, path: str, dest: Path) -> Path:
        """Extract `path` (a folder) of `image` into `dest` without running anything."""

    @abstractmethod
    def push(self, registry: str, image: ImageInfo) -> str:
        """Push `image` to `registry`; return its digest reference (REGISTRY/afr/...@sha256:...)."""

    @abstractmethod
    def pull(self, ref: str, expected_id: str) -> ImageInfo:
        """Pull `ref` (by digest) and check it is image `expected_id` (RegistryError otherwise)."""

    def publish(self, image: ImageInfo) -> str:
        """Make `image` available where containers run; return its digest reference ('' when
        containers run on this store's engine, so there is nothing to publish)."""
        return ""


class Executor(ABC):
    """Where hardened containers run.

    `stop()` (Ctrl-C, SIGTERM) is shared by an executor and every executor made from it by
    `for_another_slot`: runs in progress end within a second with RunInterrupted (their
    containers killed), and any later `run` raises it before starting anything.
    """

    def __init__(self, stopping: Optional[threading.Event] = None):
        self.stopping = stopping or threading.Event()

    def stop(self) -> None:
        """End every run of this executor and its slots now, and refuse new ones."""
        self.stopping.set()

    def check_not_stopped(self, spec: RunSpec) -> None:
        if self.stopping.is_set():
            raise RunInterrupted(f"{spec.name or spec.image}: not started, the run was stopped")

    @abstractmethod
    def run(self, spec: RunSpec, log_path: Path) -> RunResult:
        """Run `spec` to completion or timeout, write its log to `log_path`, remove the container,
        and report the exit, the wall time and the filesystem diff. Raises RunInterrupted when the
        executor is (or gets) stopped: the container is killed and removed, nothing is reported."""

    @abstractmethod
    def remove_containers(self, labels: Labels) -> int:
        """Kill and remove every container carrying all these labels; return how many."""

    @abstractmethod
    def containers(self, labels: Labels) -> list[dict[str, str]]:
        """The labels (plus "id", and "running": "True"/"False") of every container carrying all
        these labels, running or not."""

    @abstractmethod
    def remove_container_ids(self, ids: list[str]) -> int:
        """Kill and remove these containers (as `containers` lists them); return how many."""

    @abstractmethod
    def runtimes(self) -> set[str]:
        """The OCI runtimes containers can run under (e.g. {"runc"}, plus "runsc" with gVisor)."""

    @abstractmethod
    def preflight(self, needs: Requirements) -> None:
        """Check that containers can run as `needs` asks; otherwise raise a SandboxError that names
        every problem and what to fix."""

    def for_another_slot(self) -> "Executor":
        """An executor for another concurrent slot (its own engine connection)."""
        return self


@dataclass(frozen=True)
class Sandbox:
    """One image store and one executor: everything the pipeline needs to build and run."""

    name: str
    images: ImageStore
    executor: Executor

    def for_another_slot(self) -> "Sandbox":
        return Sandbox(self.name, self.images, self.executor.for_another_slot())
