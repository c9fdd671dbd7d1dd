"""Images for a cluster: built and kept on the orchestrator's engine, published to a registry.

Nodes pull every image by digest; `publish` pushes each image once (the base first, then each
candidate's one small surface layer), however many slots ask for it.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

from afr_box.sandbox.docker.executor import DockerExecutor
from afr_box.sandbox.docker.images import DockerImages
from afr_box.sandbox.errors import ClusterError
from afr_box.sandbox.provider import ImageInfo, ImageStore, Labels


class PublishingImages(ImageStore):
    """The orchestrator's Docker image store, plus pushes to `registry` (cached per image id)."""

    publishes = True

    def __init__(self, registry: str, local: Optional[DockerImages] = None):
        self.registry = registry
        self.local = local or DockerImages()
        self.local_executor = DockerExecutor(self.local.client)  # leftovers on the orchestrator itself
        self._published: dict[str, str] = {}  # image id -> digest ref
        self._lock = threading.Lock()

    def publish(self, image: ImageInfo) -> str:
        with self._lock:  # one push per image, however many slots ask
            if image.id not in self._published:
                self._published[image.id] = self.local.push(self.registry, image)
            return self._published[image.id]

    def publish_id(self, image_id: str) -> str:
        """The digest reference of a local image, pushing it first if needed."""
        if image_id in self._published:
            return self._published[image_id]
        info = self.local.image_info(image_id)
        if info is None:
            raise ClusterError(f"image {image_id[:19]} is not on the orchestrator's engine: nothing to push")
        return self.publish(info)

    # Everything else happens on the orchestrator's engine, as on one machine.
    def build_image(self, context, dockerfile: str, tag: str, buildargs: dict, labels: dict,
                    network: bool = False) -> str:
        return self.local.build_image(context, dockerfile, tag, buildargs, labels, network)

    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> None:
        self.local.import_rootfs(tarball, repository, tag)

    def image_info(self, ref: str) -> Optional[ImageInfo]:
        return self.local.image_info(ref)

    def tag(self, image_id: str, tag: str) -> None:
        self.local.tag(image_id, tag)

    def remove_images(self, labels: Labels) -> int:
        return self.local.remove_images(labels)

    def list_images(self, labels: Labels) -> list[ImageInfo]:
        return self.local.list_images(labels)

    def remove_image(self, image_id: str) -> bool:
        return self.local.remove_image(image_id)

    def probe(self, image: str, command: list[str]) -> tuple[int, str]:
        return self.local.probe(image, command)

    def top_layer(self, image: str):
        return self.local.top_layer(image)

    def save_top_layer(self, image: str, dest: Path) -> bool:
        return self.local.save_top_layer(image, dest)

    def copy_from_image(self, image: str, path: str, dest: Path) -> Path:
        return self.local.copy_from_image(image, path, dest)

    def push(self, registry: str, image: ImageInfo) -> str:
        return self.local.push(registry, image)

    def pull(self, ref: str, expected_id: str) -> ImageInfo:
        return self.local.pull(ref, expected_id)
