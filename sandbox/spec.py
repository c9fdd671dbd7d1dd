"""What to run, separate from where: a container run specification and its hardening.

`RunSpec` is a plain value (image, command, mounts, limits, labels, timeout). `container_args`
is the single place that turns it into engine arguments; every provider uses it, so the
hardening below is applied identically everywhere and shows up in each candidate record.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from afr_box.policies.schema import ContainerLimits, size_bytes
from afr_box.sandbox import seccomp
from afr_box.sandbox.harness.paths import OUT, TMP as TMPFS


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class RunSpec:
    image: str
    command: list[str]
    mounts: list[Mount]
    limits: ContainerLimits
    timeout_s: float
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    name: Optional[str] = None
    gpu_ids: list[str] = field(default_factory=list)
    cpuset: Optional[str] = None

    def __post_init__(self) -> None:
        writable = [m.target for m in self.mounts if not m.read_only]
        if any(t != OUT for t in writable):
            raise ValueError(f"only {OUT} may be mounted writable, got {writable}")


def container_args(spec: RunSpec) -> dict[str, Any]:
    """docker-py `containers.create` keyword arguments for a hardened run of `spec`."""
    args: dict[str, Any] = dict(
        image=spec.image,
        command=spec.command,
        name=spec.name,
        labels=dict(spec.labels),
        environment={"HOME": TMPFS, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", **spec.env},
        user=spec.limits.user,
        working_dir=TMPFS,
        read_only=True,
        tmpfs={TMPFS: f"rw,exec,nosuid,nodev,size={spec.limits.tmpfs_size}"},
        volumes={str(Path(m.source).resolve()): {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in spec.mounts},
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges", f"seccomp={seccomp.profile_json()}"],
        pids_limit=spec.limits.pids_limit,
        mem_limit=spec.limits.memory,
        memswap_limit=spec.limits.memory,
        nano_cpus=int(spec.limits.cpus * 1e9),
        ipc_mode="private",
        ulimits=_ulimits(spec.limits),
        log_config=_log_config(spec.limits),
        detach=True,
    )
    if spec.limits.runtime:
        args["runtime"] = spec.limits.runtime
    if spec.cpuset:
        args["cpuset_cpus"] = spec.cpuset
    if spec.gpu_ids:
        import docker.types  # only GPU hosts need the type

        args["device_requests"] = [docker.types.DeviceRequest(device_ids=spec.gpu_ids, capabilities=[["gpu"]])]
    return args


def _ulimits(limits: ContainerLimits) -> list:
    import docker.types

    fsize = size_bytes(limits.out_size)  # no single file may be larger than all of /out
    return [docker.types.Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile),
            docker.types.Ulimit(name="fsize", soft=fsize, hard=fsize),
            docker.types.Ulimit(name="core", soft=0, hard=0)]


def _log_config(limits: ContainerLimits):
    """The engine keeps at most log_size of a container's output: two files of half that, the older
    dropped as the newer fills, so the latest output (where errors are) survives a flood."""
    import docker.types

    half = max(1, size_bytes(limits.log_size) // 2)
    return docker.types.LogConfig(type="json-file", config={"max-size": str(half), "max-file": "2"})


def out_mount(spec: RunSpec) -> Optional[Mount]:
    return next((m for m in spec.mounts if not m.read_only), None)


def describe(spec: RunSpec) -> dict[str, Any]:
    """The container settings as recorded in a candidate's record (JSON-friendly)."""
    args = container_args(spec)
    args.pop("device_requests", None)
    record = {k: v for k, v in args.items() if k not in ("detach",)}
    record["gpu_ids"] = list(spec.gpu_ids)
    record["timeout_s"] = spec.timeout_s
    # The profile by its id, not its 6 kB of JSON (sandbox/seccomp.py holds it).
    record["security_opt"] = [opt if not opt.startswith("seccomp=") else f"seccomp={seccomp.profile_id()}"
                              for opt in record["security_opt"]]
    record["seccomp"] = (f"{seccomp.profile_id()}: the engine's default without capabilities, minus "
                         f"{', '.join(sorted(seccomp.DENIED))}")
    record["runtime"] = spec.limits.runtime or "engine default (runc)"
    record["ulimits"] = {u["Name"]: u["Hard"] for u in args["ulimits"]}
    record["out_fs"] = (f"tmpfs size={size_bytes(spec.limits.out_size)} nr_inodes={spec.limits.out_inodes}, "
                        "nosuid,nodev,noexec (copied to the record as plain files after the run)")
    record["mounts"] = [{**asdict(m), "source": str(m.source)} for m in spec.mounts]
    record.pop("volumes", None)
    return record


def writable_out(folder: Path, user: str) -> Path:
    """A bind-mount target for /out that the container's non-root user can write (and nobody else)."""
    folder.mkdir(parents=True, exist_ok=True)
    uid, gid = (int(x) for x in user.split(":"))
    if os.geteuid() == 0:
        os.chown(folder, uid, gid)
        os.chmod(folder, 0o700)
    else:
        os.chmod(folder, 0o777)
    return folder
