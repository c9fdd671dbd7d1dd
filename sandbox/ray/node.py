"""What runs on a cluster node inside a Ray task: the hardened container run, the preflight, the cleanup.

Ray only schedules. On the node it picked, `run_on_node` pulls the image by digest, checks it is
the gated image, and runs the phase with the local Docker provider, so the container gets
exactly the flags, limits, mounts and timeout that `container_args` gives it on one machine.
Ray does not own the container: the provider removes it in `try/finally`, and `cleanup_node`
removes anything a killed task left behind.

Mounts: the prepared data is read where it lies (the same path on every node, checked by the
preflight); the small inputs written by the orchestrator (run file, earlier phases' outputs)
travel with the task and are written to a node-local scratch folder; `/out` is node-local too (a
size- and inode-limited tmpfs that the local provider mounts, sandbox/docker/out_fs.py) and
comes back as plain files (sandbox/outputs.py), never as links.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Optional

from afr_box.policies.schema import size_bytes
from afr_box.sandbox.errors import ClusterError, SandboxError
from afr_box.sandbox.outputs import pack_outputs, unpack_outputs
from afr_box.sandbox.spec import Mount, RunSpec, writable_out

RAY_ASSIGNED = "ray-assigned"  # a GPU placeholder in a cluster spec: Ray picks the device on the node
SCRATCH_ENV = "AFR_NODE_SCRATCH"  # node-local folder for staged inputs and /out (default: the temp dir)


def assign_ray_gpus(requested: list[str], ray_gpu_ids: list) -> list[str]:
    """The device ids for the container: the GPUs Ray assigned to this task (never another task's)."""
    if not requested:
        return []
    if len(ray_gpu_ids) < len(requested):
        raise ClusterError(f"Ray assigned {len(ray_gpu_ids)} GPU(s) to this task, the run asks for {len(requested)}")
    return [str(i) for i in ray_gpu_ids[:len(requested)]]


def node_identity() -> dict[str, Any]:
    import ray

    return {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname()}


def node_spec(spec: RunSpec, image_ref: str, mounts: list[Mount]) -> RunSpec:
    """The spec as this Ray task runs it on its node: the digest reference, node-local mounts, and
    the GPUs Ray assigned to this very task (ray.get_gpu_ids(), never another task's)."""
    import ray

    return replace(spec, image=image_ref, mounts=mounts, gpu_ids=assign_ray_gpus(spec.gpu_ids, ray.get_gpu_ids()))


def _write_staged(staged: dict, dest: Path) -> Path:
    """Recreate a staged file or folder (plain files, world-readable: the container user reads it)."""
    if staged["kind"] == "file":
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(staged["files"][""])
        os.chmod(dest, 0o644)
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o755)
    problem = unpack_outputs(staged, dest)
    if problem:
        raise ClusterError(f"staged input for {dest.name}: {problem}")
    return dest


def run_on_node(spec: RunSpec, image_ref: str, staged: dict[str, dict]) -> dict[str, Any]:
    """Pull, run and clean up one phase on this node; return the result, log and /out contents."""
    from afr_box.sandbox.docker import open_sandbox

    started_at = time.time()
    docker = open_sandbox()  # this node's engine: the same hardened run as on one machine
    docker.images.pull(image_ref, spec.image)
    scratch = Path(tempfile.mkdtemp(prefix="afr-node-", dir=os.environ.get(SCRATCH_ENV)))
    try:
        os.chmod(scratch, 0o755)
        mounts, out = [], None
        for i, m in enumerate(spec.mounts):
            if not m.read_only:
                out = writable_out(scratch / "out", spec.limits.user)
                mounts.append(Mount(out, m.target, read_only=False))
            elif m.target in staged:
                mounts.append(Mount(_write_staged(staged[m.target], scratch / f"in{i}" / Path(m.source).name), m.target))
            elif Path(m.source).exists():
                mounts.append(m)  # shared data, at the same path on every node
            else:
                raise ClusterError(f"node {node_identity()['node_id'][:8]}: {m.source} (mounted at {m.target}) "
                                   "does not exist here; the data folder must be at the same path on every node")
        run_spec = node_spec(spec, image_ref, mounts)
        log_path = scratch / "container.log"
        result = docker.executor.run(run_spec, log_path)
        packed, refused = pack_outputs(out, size_bytes(spec.limits.out_size)) if out else ({}, "")
        refused = result.outputs_refused or refused  # the executor's copy out of the /out tmpfs refused first
        return {"result": asdict(result), "log": log_path.read_text() if log_path.is_file() else "",
                "outputs": packed, "outputs_refused": refused,
                "placement": {**node_identity(), "image_ref": image_ref, "image_id": spec.image,
                              "gpu_ids": list(run_spec.gpu_ids), "started_at": started_at, "ended_at": time.time()}}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def preflight_node(base_ref: str, base_id: str, data_dirs: list[str], gpus: int, harness: str,
                   runtime: str = "") -> dict[str, Any]:
    """Can this node run candidates? Every problem found, each with what to fix."""
    from afr_box.sandbox.docker import open_sandbox
    from afr_box.sandbox.gpus import host_gpu_ids
    from afr_box.sandbox.images import harness_digest
    from afr_box.tasks.shared.prepared import DataNotPreparedError, verify_prepared

    problems: list[str] = []
    if harness_digest() != harness:
        problems.append("its afr-box harness differs from the orchestrator's: install the same afr-box version on every node")
    try:
        docker = open_sandbox()
        try:
            docker.images.pull(base_ref, base_id)
        except SandboxError as exc:
            problems.append(f"registry: {exc}")
        if runtime and runtime not in docker.executor.runtimes():
            problems.append(f"docker: the policy asks for container runtime {runtime!r}, which this engine lacks")
    except SandboxError as exc:
        problems.append(f"docker: {exc}")
    for folder in map(Path, data_dirs):
        if not folder.is_dir():
            problems.append(f"data: {folder} does not exist on this node (it must be at the same path on every node: "
                            "a shared filesystem or a staged copy)")
            continue
        try:
            verify_prepared(folder)
        except DataNotPreparedError as exc:
            problems.append(f"data: {exc}")
    try:
        from afr_box.sandbox.docker.out_fs import check_mountable

        check_mountable()
    except SandboxError as exc:
        problems.append(f"out: {exc}")
    if gpus > 0 and not host_gpu_ids():  # Ray's GPU count for the node is checked by the orchestrator
        problems.append("gpus: nvidia-smi lists no GPU on this node (driver / NVIDIA container toolkit missing)")
    return {**node_identity(), "problems": problems}


def cleanup_node(labels: dict[str, Optional[str]]) -> dict[str, Any]:
    """Kill and remove this node's containers carrying all `labels` (a killed task's leftovers)."""
    from afr_box.sandbox.docker.executor import DockerExecutor

    return {**node_identity(), "removed": DockerExecutor().remove_containers(labels)}
