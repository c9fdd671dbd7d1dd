"""Resource slots: where each concurrently running candidate may execute.

A slot is one GPU set (GPU hosts) or one disjoint CPU set (CPU hosts), so candidates running
at the same time never share a device. Pure planning, no engine calls.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from afr_box.sandbox.ray.node import RAY_ASSIGNED


@dataclass(frozen=True)
class Slot:
    name: str
    cpuset: Optional[str] = None
    gpu_ids: tuple[str, ...] = ()


def host_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def _cpu_range(cpus: list[int]) -> str:
    return ",".join(str(c) for c in cpus)


def plan_slots(parallel: int, cpus: list[int], gpu_ids: list[str], gpus_per_candidate: int,
               candidates_per_gpu: int = 1) -> tuple[list[Slot], str]:
    """(slots, notice). `gpu_ids` are the GPUs this campaign may use (empty: CPU only)."""
    if parallel < 1:
        raise ValueError("--parallel must be at least 1")
    notice = ""
    if gpu_ids and gpus_per_candidate > 0:
        groups = [tuple(gpu_ids[i:i + gpus_per_candidate])
                  for i in range(0, len(gpu_ids) - gpus_per_candidate + 1, gpus_per_candidate)]
        capacity = [g for g in groups for _ in range(candidates_per_gpu)]
        if parallel > len(capacity):
            notice = f"--parallel {parallel} exceeds the {len(capacity)} GPU slot(s) of this host: using {len(capacity)}"
        return [Slot(f"gpu{'+'.join(g)}#{i}", gpu_ids=g) for i, g in enumerate(capacity[:parallel])], notice
    if parallel == 1:
        return [Slot("all")], notice
    if parallel > len(cpus):
        notice = f"--parallel {parallel} exceeds the {len(cpus)} CPU(s) of this host: using {len(cpus)}"
        parallel = len(cpus)
    share = len(cpus) // parallel
    sets = [cpus[i * share:(i + 1) * share] for i in range(parallel)]
    return [Slot(f"cpu{_cpu_range(s)}", cpuset=_cpu_range(s)) for s in sets], notice


def cluster_slots(parallel: Optional[int], cluster_total: int, gpus_per_candidate: int) -> tuple[list[Slot], str]:
    """(slots, notice) on a Ray cluster: Ray places each run on a node with a free afr_slot (and
    assigns its GPUs there), so a slot here only bounds how many candidates are in flight."""
    if parallel is not None and parallel < 1:
        raise ValueError("--parallel must be at least 1")
    notice = ""
    count = cluster_total if parallel is None else min(parallel, cluster_total)
    if parallel is not None and parallel > cluster_total:
        notice = f"--parallel {parallel} exceeds the cluster's {cluster_total} afr_slot(s): using {cluster_total}"
    gpu_ids = (RAY_ASSIGNED,) * gpus_per_candidate
    return [Slot(f"ray#{i}", gpu_ids=gpu_ids) for i in range(count)], notice
