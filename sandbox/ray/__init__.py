"""The Ray provider: every phase is the same hardened `docker run`, on the cluster node Ray picks
(sandbox/providers.py registers it as "ray"). Ray is an optional extra: nothing here imports it
until a cluster campaign runs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from afr_box.sandbox.provider import Sandbox


def open_sandbox(registry: str, shared_roots: list[Path], local=None) -> Sandbox:
    """`local`: the orchestrator's DockerImages (default: a new connection)."""
    from afr_box.sandbox.ray.executor import RayExecutor
    from afr_box.sandbox.ray.images import PublishingImages

    images = PublishingImages(registry, local)
    return Sandbox("ray", images, RayExecutor(images, shared_roots))
