"""What candidate code may read inside its container (fixed code, imported by the surface).

Paths are container paths; environment variables override them so that the same
surface also runs as a bare process (benchmarks, debugging):

    AFR_RUN_FILE    read-only run file written by the orchestrator (budget, seed, phase)
    AFR_DATA_DIR    read-only data: train/ in the training container, test_inputs/ in inference
    AFR_SURFACE     the candidate's surface snapshot (task folder + shared/)
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml


def run_file() -> Path:
    return Path(os.environ.get("AFR_RUN_FILE", "/run/run.json"))


def data_dir() -> Path:
    return Path(os.environ.get("AFR_DATA_DIR", "/data"))


def surface_dir() -> Path:
    return Path(os.environ.get("AFR_SURFACE", "/surface"))


@lru_cache(maxsize=1)
def run_info() -> dict[str, Any]:
    return json.loads(run_file().read_text())


def budget() -> dict[str, Any]:
    """The profile's fixed budget (clients, rounds, batch_size, local_steps bounds, seed, ...)."""
    return run_info()["budget"]


def task() -> str:
    return run_info()["task"]


def knobs() -> dict[str, Any]:
    """The candidate's knobs file (part of its surface). A knobs file without `local_steps`
    trains the profile's baseline step count (budget.local_steps.baseline), so a profile with a
    smaller budget shrinks the untouched baseline too; a candidate may set it within the bounds."""
    values = yaml.safe_load((surface_dir() / task() / "knobs.yaml").read_text()) or {}
    return {"local_steps": budget()["local_steps"]["baseline"], **values}


def load_arrays(site: str) -> dict[str, np.ndarray]:
    """This container's arrays for one site: x and y in training, x only in inference."""
    with np.load(data_dir() / f"{site}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
