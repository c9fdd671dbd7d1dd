"""The jail's container: what an external agent runs in, and the one place its hardening is applied.

Built the way `sandbox/spec.py` builds a candidate's, with what a jail needs instead of /out:

- no network at all (`network_mode: none`); the way out is the egress proxy's socket and the way to
  afr-box the channel's, both in the read-only folder mounted at /run/afr;
- the workspace read-only at /workspace, with only `surface/` and `.git/` writable over it;
- read-only extras the caller names (the campaign's candidate records, the training data if the
  policy allows, an agent executable), each refused if it is, holds or lies inside a forbidden
  path (the test inputs and labels: `forbidden`; the engine's socket always), or is or holds the
  host's home;
- read-only root, tmpfs /tmp (HOME inside it), all capabilities dropped, no-new-privileges, a
  non-root user, private IPC, pids/memory (swap included)/CPU limits, nofile and core ulimits, an
  init as PID 1, the engine's default seccomp profile, a wall-clock limit enforced from outside.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afr_box.policies.schema import AgentJail
from afr_box.sandbox.errors import SandboxError
from afr_box.sandbox.jail.channel import SOCKET_DIR
from afr_box.sandbox.jail.forward import PORT
from afr_box.sandbox.spec import Mount

WORKSPACE = "/workspace"
WRITABLE = (f"{WORKSPACE}/surface", f"{WORKSPACE}/.git")
HOME = "/tmp/home"
ENGINE_SOCKETS = (Path("/var/run/docker.sock"), Path("/run/docker.sock"))
ENTRY = ["/opt/afr-jail/bin/afr-jail-entry", "--"]
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)


class JailSpecError(SandboxError, ValueError):
    """A jail asked to see what it may not (a forbidden path, the host's home, a writable extra),
    refused before anything starts; the message names the path (move the workspace or the data)."""


@dataclass(frozen=True)
class JailSpec:
    image: str
    command: list[str]
    workspace: Path                 # the host folder of the workspace (surface/ and .git/ inside)
    sockets: Path                   # the host folder holding channel.sock and egress.sock
    limits: AgentJail
    user: str                       # uid:gid, never root
    timeout_s: float
    mounts: list[Mount] = field(default_factory=list)   # read-only extras
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    name: str = ""
    forbidden: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.user.split(":")[0] in ("0", "root", ""):
            raise JailSpecError("the jail never runs as root")
        forbidden = [Path(p).resolve() for p in [*self.forbidden, *ENGINE_SOCKETS]]
        home = Path.home().resolve()
        for mount in self.all_mounts():
            source = Path(mount.source).resolve()
            for bad in forbidden:  # not it, nothing inside it, nothing that holds it
                if source == bad or bad in source.parents or source in bad.parents:
                    raise JailSpecError(f"the jail may not see {bad} (asked to mount {source} at {mount.target})")
            if source == home or source in home.parents:  # a folder inside the home is fine, the home is not
                raise JailSpecError(f"the jail may not see the host's home {home} (asked to mount {source})")
            if not mount.read_only and mount.target not in WRITABLE:
                raise JailSpecError(f"only {', '.join(WRITABLE)} may be writable in the jail, not {mount.target}")

    def all_mounts(self) -> list[Mount]:
        ws = Path(self.workspace)
        return [Mount(ws, WORKSPACE), Mount(ws / "surface", WRITABLE[0], read_only=False),
                Mount(ws / ".git", WRITABLE[1], read_only=False), Mount(Path(self.sockets), SOCKET_DIR),
                *self.mounts]


def jail_container_args(spec: JailSpec) -> dict[str, Any]:
    """docker-py `containers.create` keyword arguments for the jail of `spec`."""
    import docker.types

    proxy = f"http://127.0.0.1:{PORT}"
    limits = spec.limits
    return dict(
        image=spec.image,
        command=[*ENTRY, *spec.command],
        name=spec.name or None,
        labels=dict(spec.labels),
        environment={"HOME": HOME, "TMPDIR": "/tmp", "HTTPS_PROXY": proxy, "https_proxy": proxy,
                     "HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": "", "no_proxy": "",
                     "AFR_WORKSPACE": WORKSPACE, "PYTHONDONTWRITEBYTECODE": "1",
                     # git refuses a repository owned by another user unless told it is safe
                     "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*",
                     "GIT_AUTHOR_NAME": "agent", "GIT_AUTHOR_EMAIL": "agent@jail",
                     "GIT_COMMITTER_NAME": "agent", "GIT_COMMITTER_EMAIL": "agent@jail",
                     **spec.env},
        user=spec.user,
        working_dir=WORKSPACE,
        read_only=True,
        tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={limits.tmpfs_size}"},
        volumes={str(Path(m.source).resolve()): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
                 for m in spec.all_mounts()},
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        pids_limit=limits.pids_limit,
        mem_limit=limits.memory,
        memswap_limit=limits.memory,
        nano_cpus=int(limits.cpus * 1e9),
        ipc_mode="private",
        ulimits=[docker.types.Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile),
                 docker.types.Ulimit(name="core", soft=0, hard=0)],
        init=True,
        detach=True,
    )


def describe_jail(spec: JailSpec) -> dict[str, Any]:
    """The jail's settings as recorded in the session record; secrets (API keys) never written."""
    args = jail_container_args(spec)
    record = {k: v for k, v in args.items() if k not in ("detach", "volumes", "ulimits")}
    record["environment"] = {k: ("<set, not recorded>" if SECRET_NAME.search(k) else v)
                             for k, v in args["environment"].items()}
    record["ulimits"] = {u["Name"]: u["Hard"] for u in args["ulimits"]}
    record["mounts"] = [{"source": str(m.source), "target": m.target, "read_only": m.read_only}
                        for m in spec.all_mounts()]
    record["timeout_s"] = spec.timeout_s
    record["seccomp"] = "engine default profile"
    record["forbidden"] = [str(p) for p in [*spec.forbidden, *ENGINE_SOCKETS]]
    return record
