"""The Docker image store: build, inspect, read and save layers, push and pull by digest."""
from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path
from typing import Optional

from afr_box.sandbox import registry
from afr_box.sandbox.docker.engine import connect
from afr_box.sandbox.docker.layers import readable_upper_dir, top_layer_from_save
from afr_box.sandbox.errors import ImageBuildError
from afr_box.sandbox.provider import ImageInfo, ImageStore, Labels, label_filters
from afr_box.tasks.shared.hashing import sha256_file

LOG_TAIL_CHARS = 4000


class DockerImages(ImageStore):
    def __init__(self, client=None):
        self.client = client or connect()

    def build_image(self, context, dockerfile, tag, buildargs, labels, network: bool = False) -> str:
        import docker

        where = {"fileobj": io.BytesIO(context), "custom_context": True} if isinstance(context, bytes) \
            else {"path": str(context)}
        try:
            image, _ = self.client.images.build(
                **where, dockerfile=dockerfile, tag=tag, buildargs=buildargs,
                labels=labels, rm=True, forcerm=True, network_mode="default" if network else "none", pull=False,
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

    def tag(self, image_id: str, tag: str) -> None:
        self.client.images.get(image_id).tag(*tag.rsplit(":", 1))

    def remove_images(self, labels: Labels) -> int:
        found = self.client.images.list(filters={"label": label_filters(labels)})
        for img in found:
            self.client.images.remove(img.id, force=True)
        return len(found)

    def list_images(self, labels: Labels) -> list[ImageInfo]:
        return [info for img in self.client.images.list(filters={"label": label_filters(labels)})
                if (info := self.image_info(img.id)) is not None]

    def remove_image(self, image_id: str) -> bool:
        import docker

        try:
            self.client.images.remove(image_id, force=False, noprune=False)
        except docker.errors.ImageNotFound:
            return True
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # a container uses it, or it has several tags
                try:  # several tags of one unused image: remove them all
                    if not self.client.containers.list(all=True, filters={"ancestor": image_id}, sparse=True):
                        self.client.images.remove(image_id, force=True)
                        return True
                except docker.errors.APIError:
                    pass
                return False
            raise
        return True

    def probe(self, image: str, command: list[str]) -> tuple[int, str]:
        container = self.client.containers.create(image=image, command=command, network_disabled=True,
                                                  read_only=True, labels={"afr.kind": "probe"})
        try:
            container.start()
            code = container.wait(timeout=120)["StatusCode"]
            return code, container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        finally:
            container.remove(force=True)

    def top_layer(self, image: str) -> Optional[dict[str, str]]:
        import docker

        try:
            upper = readable_upper_dir(self.client.images.get(image).attrs)
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

    def push(self, registry_address: str, image: ImageInfo) -> str:
        return registry.push(self.client, registry_address, image)

    def pull(self, ref: str, expected_id: str) -> ImageInfo:
        registry.pull(self.client, ref, expected_id)
        return self.image_info(expected_id)
