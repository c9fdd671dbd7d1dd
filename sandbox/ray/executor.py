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

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

from afr_box.sandbox.errors import ClusterError, RunInterrupted
from afr_box.sandbox.outputs import pack_outputs, unpack_outputs
from afr_box.sandbox.provider import Executor, Labels, Requirements, RunResult
from afr_box.sandbox.ray.images import PublishingImages
from afr_box.sandbox.ray.node import cleanup_node, preflight_node, run_on_node
from afr_box.sandbox.spec import RunSpec, out_mount

SLOT = "afr_slot"
# Beyond the container's own timeout (enforced on the node): waiting for a slot, pulling a new base.
QUEUE_AND_PULL_S = 1800.0
PREFLIGHT_TIMEOUT_S = 1800.0  # a fresh node pulls the 1.6 GB base image first
NO_SLOTS = (f"no node of the cluster offers {SLOT}: start the Docker hosts with "
            f"`ray start --address=HEAD:6379 --resources='{{\"{SLOT}\": N}}'`")
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


class RayExecutor(Executor):
    """Each phase is one Ray task on a node with a free `afr_slot`; images come from `images`
    (pushed to the registry on first use)."""

    def __init__(self, images: PublishingImages, shared_roots: list[Path], stopping=None):
        super().__init__(stopping)
        self.images = images
        self.shared_roots = [Path(r).resolve() for r in shared_roots]

    def for_another_slot(self) -> "RayExecutor":
        return RayExecutor(self.images, self.shared_roots, self.stopping)

    # Containers: on the nodes.
    def run(self, spec: RunSpec, log_path: Path) -> RunResult:
        import ray

        self.check_not_stopped(spec)
        image = self.images.publish_id(spec.image)
        obj = self.submit(spec, image)
        start = time.monotonic()
        try:
            answer = self._answer(obj, spec, start)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(obj, force=True)
            self.remove_containers(_run_labels(spec))
            log_path.write_text("no answer from the cluster node: task cancelled, container removed\n")
            return RunResult(exit_code=None, timed_out=True, oom_killed=False, wall_s=time.monotonic() - start)
        except RunInterrupted:
            ray.cancel(obj, force=True)
            self.remove_containers(_run_labels(spec))  # Ray does not own the container: its node removes it
            raise
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

    def _answer(self, obj, spec: RunSpec, start: float) -> dict:
        """The node's answer, waited for in short steps so that a stop ends the wait at once."""
        import ray

        limit = spec.timeout_s + QUEUE_AND_PULL_S
        while not ray.wait([obj], timeout=min(1.0, max(0.0, limit - (time.monotonic() - start))))[0]:
            if self.stopping.is_set():
                raise RunInterrupted(f"{spec.name or spec.image}: stopped after {time.monotonic() - start:.1f} s")
            if time.monotonic() - start >= limit:
                raise ray.exceptions.GetTimeoutError()
        return ray.get(obj)

    def submit(self, spec: RunSpec, image_ref: str):
        """Start `spec` on a node with a free slot; the ObjectRef of its answer."""
        return remote(run_on_node).options(**task_options(spec)).remote(spec, image_ref, self._stage(spec))

    def remove_containers(self, labels: Labels) -> int:
        removed = sum(r["removed"] for r in on_every_node(cleanup_node, labels))
        return removed + self.images.local_executor.remove_containers(labels)

    def containers(self, labels: Labels) -> list[dict[str, str]]:
        return self.images.local_executor.containers(labels)  # the nodes' own: `afr-box clean --cluster`

    def remove_container_ids(self, ids: list[str]) -> int:
        return self.images.local_executor.remove_container_ids(ids)

    def runtimes(self) -> set[str]:
        return {"runc"}  # each node's runtime is checked by its preflight

    def preflight(self, needs: Requirements) -> None:
        """One preflight task per slot node (Docker, a pull of the base by digest, the data folder
        and its manifest, the harness, GPUs); one ClusterError naming every failing node."""
        from afr_box.sandbox.images import harness_digest

        nodes = slot_nodes()
        if not nodes:
            raise ClusterError(NO_SLOTS)
        base_ref = self.images.publish(needs.base)
        answers = on_every_node(preflight_node, base_ref, needs.base.id, [str(d) for d in needs.data_dirs],
                                needs.gpus, harness_digest(), needs.runtime, nodes=nodes, timeout_s=PREFLIGHT_TIMEOUT_S)
        failing = []
        for node, answer in zip(nodes, answers):
            gpu_count = node.get("Resources", {}).get("GPU", 0.0)
            if needs.gpus > 0 and gpu_count < needs.gpus:  # what Ray offers there; nvidia-smi was checked on the node
                answer["problems"].append(
                    f"gpus: the policy asks for {needs.gpus} GPU(s) per candidate; Ray offers {gpu_count:g} here "
                    "(start the node with --num-gpus)")
            if answer["problems"]:
                failing.append(answer)
        if failing:
            lines = [f"{node_name(a)}: {problem}" for a in failing for problem in a["problems"]]
            raise ClusterError(f"preflight failed on {len(failing)} of {len(answers)} node(s); the campaign does not "
                               "start:\n  " + "\n  ".join(lines))

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


def task_options(spec: RunSpec) -> dict[str, Any]:
    """What one phase's Ray task asks for: one afr_slot, and the policy's GPUs (train and infer only)."""
    return dict(resources={SLOT: 1}, num_cpus=0, num_gpus=len(spec.gpu_ids), max_retries=0,
                name=f"afr {spec.name or spec.image}"[:100])


def node_name(answer: dict) -> str:
    return f"node {answer['node_id'][:12]} ({answer['node_ip']}, {answer['hostname']})"


def _run_labels(spec: RunSpec) -> dict[str, Optional[str]]:
    """Labels naming exactly this run's container."""
    keys = ("afr.folder", "afr.campaign", "afr.candidate", "afr.phase")
    return {k: spec.labels[k] for k in keys if k in spec.labels} or dict(spec.labels)
