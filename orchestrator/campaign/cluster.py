"""Campaigns on a Ray cluster: connect, count slots, preflight every node, clean up every node.

A lab starts Ray itself (`ray start --head`, then `ray start --address=... --resources=
'{"afr_slot": N}'` on each Docker host); afr-box connects to it as a client. Nothing here
starts, owns or stops the cluster.
"""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from afr_box.sandbox.docker.images import DockerImages
from afr_box.sandbox.errors import ClusterError
from afr_box.sandbox.provider import Requirements, Sandbox
from afr_box.sandbox.providers import open_sandbox
from afr_box.sandbox.ray.executor import NO_SLOTS, SLOT, node_name, on_every_node, slot_nodes
from afr_box.sandbox.ray.node import cleanup_node
from afr_box.sandbox.registry import check_reachable, parse_registry

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


def parse_address(address: str) -> tuple[str, Optional[tuple[str, int]]]:
    """(the address for ray.init, (host, port) to probe first or None). Accepts `ray://HOST:PORT`
    (Ray Client, usually port 10001), `HOST:PORT` (the head's GCS, usually 6379) and `auto`."""
    address = address.strip()
    if address == "auto":
        return address, None
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    match = _HOST_PORT.match(rest)
    if not match or not 0 < int(match["port"]) < 65536:
        raise ClusterError(f"--cluster {address!r} is not ray://HOST:PORT, HOST:PORT or auto "
                           "(e.g. ray://10.0.0.1:10001 or 10.0.0.1:6379)")
    return address, (match["host"].strip("[]"), int(match["port"]))


def connect(address: str) -> bool:
    """Connect this process to the cluster (unless already connected); True when this call
    connected (so the caller disconnects)."""
    try:
        import ray
    except ImportError:
        raise ClusterError("ray is not installed: pip install 'afr-box[cluster]' (ray[default]==2.60.0)") from None
    if ray.is_initialized():
        return False
    target, probe = parse_address(address)
    if probe is not None:  # fail in seconds with a clear message, not after Ray's own long retries
        try:
            socket.create_connection(probe, timeout=5).close()
        except OSError as exc:
            raise ClusterError(f"cannot reach the Ray cluster at {address} ({exc}); is `ray start --head` running "
                               "there, and is the port open from this machine?") from None
    try:
        ray.init(address=target, logging_level="ERROR", log_to_driver=False)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, grpc errors...
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    return True


def disconnect() -> None:
    import ray

    ray.shutdown()


def total_slots() -> int:
    """Candidates the cluster runs at once: the sum of its nodes' afr_slot."""
    nodes = slot_nodes()
    if not nodes:
        raise ClusterError(NO_SLOTS)
    return int(sum(n["Resources"][SLOT] for n in nodes))


def clean(labels: dict[str, Optional[str]]) -> list[dict]:
    """One cleanup task per slot node: remove the containers carrying `labels`."""
    return on_every_node(cleanup_node, labels)


@dataclass
class ClusterRun:
    """A campaign's hold on the cluster: its sandbox, how many candidates run at once, the nodes."""

    address: str
    sandbox: Sandbox
    base_ref: str  # the base image's digest reference in the registry
    slots: int
    nodes: list[dict]
    connected: bool  # this process connected, so it disconnects at the end

    def close(self) -> None:
        if self.connected:
            disconnect()


def start(address: str, registry: Optional[str], needs: Requirements, local: DockerImages) -> ClusterRun:
    """Everything a cluster campaign checks before it writes anything: the registry answers, the
    cluster answers and offers slots, the base is pushed, and every slot node passes its preflight."""
    if not registry:
        raise ClusterError("--cluster needs --registry HOST:PORT: nodes pull every image by digest from it")
    registry = parse_registry(registry)
    check_reachable(registry)
    connected = connect(address)
    try:
        slots = total_slots()
        sandbox = open_sandbox("ray", registry=registry, shared_roots=list(needs.data_dirs), local=local)
        base_ref = sandbox.images.publish(needs.base)
        sandbox.executor.preflight(needs)
        return ClusterRun(address, sandbox, base_ref, slots, slot_nodes(), connected)
    except BaseException:
        if connected:
            disconnect()
        raise
