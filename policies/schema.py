"""Mutation-surface and container policies, as validated data.

A policy says which surface files a candidate may change (globs over surface paths, with
`{task}` standing for the task: `{task}/client.py` is tasks/<task>/surface/client.py and
`shared/aggregators.py` is tasks/shared/surface/aggregators.py, see tasks/shared/layout.py), the
size limits of a surface, and the resource limits of its containers. Container hardening (read-only root, no network, dropped
capabilities, no-new-privileges, non-root user) is not a policy choice: it is always on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from afr_box.profiles.yaml_models import load_yaml_model, named_yaml

POLICIES_DIR = Path(__file__).resolve().parent


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SurfaceLimits(_Strict):
    max_files: int = Field(16, gt=0)
    max_file_bytes: int = Field(64 * 1024, gt=0)
    max_total_bytes: int = Field(256 * 1024, gt=0)


_UNITS = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def size_bytes(text: str) -> int:
    """'512m' -> 536870912 (the engine's own size notation: k, m, g)."""
    return int(text[:-1]) * _UNITS[text[-1]]


class ContainerLimits(_Strict):
    user: str = Field("10001:10001", pattern=r"^[1-9][0-9]*:[1-9][0-9]*$", description="uid:gid, never root")
    memory: str = Field("6g", pattern=r"^[0-9]+[kmg]$")
    cpus: float = Field(2.0, gt=0)
    pids_limit: int = Field(2048, gt=0, description="threads count too: NVFlare runs ~100 per process")
    tmpfs_size: str = Field("1g", pattern=r"^[0-9]+[kmg]$")
    gpus: int = Field(0, ge=0, description="GPUs per candidate; 0 = CPU only")
    out_size: str = Field("1g", pattern=r"^[0-9]+[kmg]$",
                          description="size of a phase's /out, a tmpfs the kernel holds to it (and per file: fsize)")
    out_inodes: int = Field(1024, ge=64, description="files and folders a phase's /out can hold (tmpfs nr_inodes)")
    log_size: str = Field("8m", pattern=r"^[0-9]+[kmg]$",
                          description="most of a container's output the engine keeps (log driver) and the host reads")
    nofile: int = Field(4096, gt=0, description="open files per process (ulimit nofile)")
    runtime: Optional[Literal["runc", "runsc"]] = Field(
        None, description="OCI runtime; runsc (gVisor) adds a user-space kernel where the host has it")


class AgentJail(_Strict):
    """What an external agent's jail (`afr-box agent run`) is given. Its hardening (no network but
    the egress proxy, read-only root, no capabilities, non-root, no test data, no engine socket) is
    not a policy choice; only whether it may read the training data, and its resources, are."""

    training_data: bool = Field(False, description="mount the task's training data read-only at /data/train")
    memory: str = Field("4g", pattern=r"^[0-9]+[kmg]$")
    cpus: float = Field(2.0, gt=0)
    pids_limit: int = Field(1024, gt=0)
    tmpfs_size: str = Field("2g", pattern=r"^[0-9]+[kmg]$", description="/tmp, the agent's HOME included")
    nofile: int = Field(4096, gt=0)


class Policy(_Strict):
    name: str
    description: str
    surface: list[str] = Field(min_length=1, description="globs over surface paths, `{task}` = the task")
    limits: SurfaceLimits = SurfaceLimits()
    container: ContainerLimits = ContainerLimits()
    agent: AgentJail = AgentJail()

    @field_validator("surface")
    @classmethod
    def _relative_globs(cls, globs: list[str]) -> list[str]:
        for g in globs:
            if g.startswith("/") or ".." in g.split("/"):
                raise ValueError(f"surface glob {g!r} must be a relative surface path ({{task}}/... or shared/...)")
        return globs

    def globs_for(self, task: str) -> list[str]:
        return [g.replace("{task}", task) for g in self.surface]


def policy_path(name_or_path: Union[str, Path]) -> Path:
    return named_yaml(name_or_path, POLICIES_DIR)


def available_policies() -> list[str]:
    return sorted(p.stem for p in POLICIES_DIR.glob("*.yaml"))


def load_policy(name_or_path: Union[str, Path]) -> Policy:
    return load_yaml_model(policy_path(name_or_path), Policy, what="policy", known=available_policies())
