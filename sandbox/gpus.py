"""GPU assignment: the device ids a candidate's containers get, or a CPU fallback notice."""
from __future__ import annotations

import shutil
import subprocess


def host_gpu_ids() -> list[str]:
    """Indices of the NVIDIA GPUs on this host (empty without a driver)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def resolve_gpus(requested: int, available: list[str]) -> tuple[list[str], str]:
    """(device ids for the containers, notice for the user; empty when nothing to say)."""
    if requested <= 0:
        return [], ""
    if not available:
        return [], f"the policy asks for {requested} GPU(s) but this host has none: candidates run on the CPU"
    if requested > len(available):
        return list(available), f"the policy asks for {requested} GPU(s); this host has {len(available)}: using all"
    return list(available[:requested]), ""
