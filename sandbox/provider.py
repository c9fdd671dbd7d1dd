"""The narrow sandbox interface: build an image, run a hardened container, clean up.

Docker is the first provider (`docker_provider.py`); Ray is the second (`ray_provider.py`: the
same hardened `docker run` on the cluster node Ray picks). Another runtime (podman, Kubernetes
Jobs, Slurm) is a new provider implementing these few methods, not a rewrite.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from afr_box.sandbox.spec import RunSpec


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
    out_exceeded: bool = False  # killed for writing more than the policy's out_size to /out
    # Where it ran, on a cluster: node, image reference pulled, GPUs, start/end (epoch seconds).
    placement: dict = field(default_factory=dict)
    # A cluster node refused to carry /out back (a link, a special file): a violation, like check_outputs.
    outputs_refused: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed and not self.out_exceeded


class SandboxProvider(ABC):
    name: str
    publishes = False  # True where images must be pushed to a registry before they can run

    def publish(self, image: ImageInfo) -> str:
        """Make `image` available where containers run; return its digest reference ('' when
        containers run on this engine, so there is nothing to publish)."""
        return ""

    def for_another_slot(self) -> "SandboxProvider":
        """A provider for another concurrent slot (its own engine connection)."""
        return type(self)()

    @abstractmethod
    def build_image(self, context: Path, dockerfile: str, tag: str,
                    buildargs: dict[str, str], labels: dict[str, str]) -> str:
        """Build `context` (whose content is exactly what the image may hold); return the image id."""

    @abstractmethod
    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> None:
        """Import a root-filesystem tarball as image `repository:tag` (the local OS base)."""

    @abstractmethod
    def image_info(self, ref: str) -> Optional[ImageInfo]:
        """Inspect an image by tag or id; None when absent."""

    @abstractmethod
    def run(self, spec: RunSpec, log_path: Path) -> RunResult:
        """Run `spec` to completion or timeout, write its full log to `log_path`, remove the
        container, and report the exit, the wall time and the filesystem diff."""

    @abstractmethod
    def remove_containers(self, labels: dict[str, Optional[str]]) -> int:
        """Kill and remove every container carrying all these labels (value None: any value)."""

    @abstractmethod
    def remove_images(self, labels: dict[str, Optional[str]]) -> int:
        """Remove every image carrying all these labels; return how many."""

    @abstractmethod
    def top_layer(self, image: str) -> Optional[dict[str, str]]:
        """What the image's top layer itself holds, read from the engine's storage (not from a
        build context): {path: sha256, or "dir" / "link" / "other"}; None where unreadable."""

    @abstractmethod
    def save_top_layer(self, image: str, dest: Path) -> bool:
        """Write the image's own top layer (as a tar) to `dest`; False if it cannot be found."""

    @abstractmethod
    def runtimes(self) -> set[str]:
        """The OCI runtimes the engine offers (e.g. {"runc"}, plus "runsc" with gVisor)."""

    @abstractmethod
    def copy_from_image(self, image: str, path: str, dest: Path) -> Path:
        """Extract `path` (a folder) of `image` into `dest` without running anything."""
