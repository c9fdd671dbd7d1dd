"""The Ray provider: every phase is the same hardened `docker run`, on the cluster node Ray picks.

Ray only schedules. Each phase is one Ray task asking for one `afr_slot` (a node started with
`--resources='{"afr_slot": N}'` runs at most N at once) plus the policy's GPUs; on its node the
task pulls the image by digest and runs it with the local Docker provider (sandbox/node_tasks.py),
so the spec, `container_args` and the hardening are the ones used on one machine. Ray's own
container mode (`image_uri`) is not used: it shares the host network.

Images are built, inspected and verified on the orchestrator's engine, as locally, and pushed to
the registry (the base once, then each candidate's small surface layer). Outputs come back as
plain files into the orchestrator's record folder, where the usual checks read them.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

from afr_box.sandbox.docker_provider import DockerProvider
from afr_box.sandbox.errors import ClusterError
from afr_box.sandbox.node_tasks import cleanup_node, run_on_node
from afr_box.sandbox.outputs import pack_outputs, unpack_outputs
from afr_box.sandbox.provider import ImageInfo, RunResult, SandboxProvider
from afr_box.sandbox.registry import push
from afr_box.sandbox.spec import RunSpec, out_mount

SLOT = "afr_slot"
# Beyond the container's own timeout (enforced on the node): waiting for a slot, pulling a new base.
QUEUE_AND_PULL_S = 1800.0
STAGED_INPUT_LIMIT = 2 * 1024 ** 3  # what a phase may be given besides the shared data (run file, model, predictions)

_remote_fns: dict[Callable, Any] = {}


def remote(fn: Callable):
    """`fn` as a Ray remote function (made once per process)."""
    import ray

    if fn not in _remote_fns:
        _remote_fns[fn] = ray.remote(fn)
    return _remote_fns[fn]


def slot_nodes() -> list[dict]:
    """The alive nodes that offer `afr_slot` (the head is usually started with none)."""
    import ray

    return [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(SLOT, 0) > 0]


def on_every_node(fn: Callable, *args, nodes: Optional[list[dict]] = None, timeout_s: float = 600.0) -> list:
    """Run `fn(*args)` once on each node (pinned; no slot needed, so busy nodes answer too)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = slot_nodes() if nodes is None else nodes
    refs = [remote(fn).options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
        node_id=n["NodeID"], soft=False)).remote(*args) for n in nodes]
    try:
        return ray.get(refs, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise ClusterError(f"{fn.__name__} did not answer from every node within {timeout_s:.0f} s") from None


class RayProvider(SandboxProvider):
    name = "ray"
    publishes = True

    def __init__(self, registry: str, shared_roots: list[Path], local: Optional[DockerProvider] = None,
                 _published: Optional[dict] = None, _lock: Optional[threading.Lock] = None):
        self.registry = registry
        self.shared_roots = [Path(r).resolve() for r in shared_roots]
        self.local = local or DockerProvider()  # builds, inspects and verifies images, as on one machine
        self._published = {} if _published is None else _published  # image id -> digest ref, shared by slots
        self._lock = _lock or threading.Lock()

    def for_another_slot(self) -> "RayProvider":
        return RayProvider(self.registry, self.shared_roots, DockerProvider(), self._published, self._lock)

    # Images: on the orchestrator's engine.
    def build_image(self, context, dockerfile, tag, buildargs, labels) -> str:
        return self.local.build_image(context, dockerfile, tag, buildargs, labels)

    def import_rootfs(self, tarball, repository, tag) -> None:
        self.local.import_rootfs(tarball, repository, tag)

    def image_info(self, ref: str) -> Optional[ImageInfo]:
        return self.local.image_info(ref)

    def top_layer(self, image: str):
        return self.local.top_layer(image)

    def save_top_layer(self, image: str, dest: Path) -> bool:
        return self.local.save_top_layer(image, dest)

    def copy_from_image(self, image: str, path: str, dest: Path) -> Path:
        return self.local.copy_from_image(image, path, dest)

    def runtimes(self) -> set[str]:
        return self.local.runtimes()  # the nodes' runtimes are checked by the preflight

    def remove_images(self, labels) -> int:
        return self.local.remove_images(labels)

    def publish(self, image: ImageInfo) -> str:
        with self._lock:  # one push per image, however many slots ask
            if image.id not in self._published:
                self._published[image.id] = push(self.local.client, self.registry, image)
            return self._published[image.id]

    # Containers: on the nodes.
    def run(self, spec: RunSpec, log_path: Path) -> RunResult:
        import ray

        image = self._published.get(spec.image) or self.publish(self._image(spec.image))
        obj = self.submit(spec, image)
        start = time.monotonic()
        try:
            answer = ray.get(obj, timeout=spec.timeout_s + QUEUE_AND_PULL_S)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(obj, force=True)
            self.remove_containers(_run_labels(spec))
            log_path.write_text("no answer from the cluster node: task cancelled, container removed\n")
            return RunResult(exit_code=None, timed_out=True, oom_killed=False, wall_s=time.monotonic() - start)
        except ray.exceptions.RayError as exc:
            self.remove_containers(_run_labels(spec))
            raise ClusterError(f"{spec.name or spec.image}: the cluster task failed: "
                               f"{str(exc).strip().splitlines()[-1][:400]}") from None
        log_path.write_text(answer["log"])
        refused = answer["outputs_refused"]
        out = out_mount(spec)
        if out is not None and not refused:
            refused = unpack_outputs(answer["outputs"], Path(out.source))
        return replace(RunResult(**answer["result"]), placement=answer["placement"], outputs_refused=refused)

    def submit(self, spec: RunSpec, image_ref: str):
        """Start `spec` on a node with a free slot; the ObjectRef of its answer."""
        return remote(run_on_node).options(
            resources={SLOT: 1}, num_cpus=0, num_gpus=len(spec.gpu_ids), max_retries=0,
            name=f"afr {spec.name or spec.image}"[:100],
        ).remote(spec, image_ref, self._stage(spec))

    def remove_containers(self, labels: dict[str, Optional[str]]) -> int:
        removed = sum(r["removed"] for r in on_every_node(cleanup_node, labels))
        return removed + self.local.remove_containers(labels)

    def _image(self, image_id: str) -> ImageInfo:
        info = self.local.image_info(image_id)
        if info is None:
            raise ClusterError(f"image {image_id[:19]} is not on the orchestrator's engine: nothing to push")
        return info

    def _shared(self, source: Path) -> bool:
        source = Path(source).resolve()
        return any(source == root or root in source.parents for root in self.shared_roots)

    def _stage(self, spec: RunSpec) -> dict[str, dict]:
        """The read-only inputs that are not on the shared data path, as plain files for the node."""
        staged = {}
        for m in spec.mounts:
            if not m.read_only or self._shared(m.source):
                continue
            source = Path(m.source)
            if source.is_file() and not source.is_symlink():
                staged[m.target] = {"kind": "file", "files": {"": source.read_bytes()}}
                continue
            packed, problem = pack_outputs(source, STAGED_INPUT_LIMIT)
            if problem or not source.is_dir():
                raise ClusterError(f"cannot send {source} to a node: {problem or 'not a plain file or folder'}")
            staged[m.target] = {"kind": "dir", **packed}
        return staged


def _run_labels(spec: RunSpec) -> dict[str, Optional[str]]:
    """Labels naming exactly this run's container."""
    keys = ("afr.campaign", "afr.candidate", "afr.phase")
    return {k: spec.labels[k] for k in keys if k in spec.labels} or dict(spec.labels)
