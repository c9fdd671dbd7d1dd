"""What candidate code may read inside its container (fixed code, imported by the surface).

Paths are container paths; environment variables override them so that the same
surface also runs as a bare process (benchmarks, debugging):

    AFR_RUN_FILE    read-only run file written by the orchestrator (budget, seed, phase)
    AFR_DATA_DIR    read-only data: train/ in the training container (one folder per site, and
                    assets/), test_inputs/ in inference
    AFR_SURFACE     the candidate's surface snapshot (task folder + shared/)
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from afr_box.tasks.shared.prepared import SiteData


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
    smaller budget shrinks the untouched baseline too; a candidate may set it within the bounds.
    A step count above the run's bound is held to it: the gate keeps a scored run within the
    profile's bounds already, and a smoke run's budget (a few steps) bounds every candidate."""
    values = yaml.safe_load((surface_dir() / task() / "knobs.yaml").read_text()) or {}
    steps = budget()["local_steps"]
    values = {"local_steps": steps["baseline"], **values}
    if type(values["local_steps"]) is int and values["local_steps"] > steps["max"]:
        values["local_steps"] = steps["max"]
    return values


def open_site(site: str) -> SiteData:
    """This container's data of one site, read lazily (x and y in training, inputs only in
    inference). Nothing is loaded until asked for, so a site larger than the container's memory
    trains as well as a small one:

        data = open_site(flare.get_site_name())
        len(data)                       # samples
        batch = data.batch(idx)         # {"x": array (len(idx), ...), "y": array (len(idx),)}
        data.sample(i)                  # one sample; a ragged input (bags of tiles) is its own array
        for b in data.batches(500): ... # consecutive batches, e.g. for a metric over the site

    Batches are fresh in-memory copies (writable: torch.from_numpy works on them); a ragged input
    comes as a list of per-sample arrays. Pulling a whole large site in at once (one batch of
    everything) defeats this and will exceed the container's memory."""
    return SiteData(data_dir() / site)

