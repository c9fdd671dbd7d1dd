"""The candidate record folder: fixed, documented file names (the folder is the API).

    candidates/<id>/
        proposal.json       proposer, description, sources (and an agent's tokens, tool calls, cost)
        surface/            the gated surface snapshot (exactly what went into the image)
        surface.diff        unified diff of the effective task files against the baseline
        gate.json           every gate check with its result
        image.json          image id, tag, base id, layers, whether it was built now (cluster: repo_digest)
        containers.json     the hardened settings of each container (train, infer, score)
        resources.json      per container: wall time, exit, timeout/OOM, peak memory (cluster: placement =
                            node, digest reference pulled, GPUs, start/end)
        train/ train.log    training outputs (model.pt, train_stats.json) and log
        infer/ infer.log    predictions/ and log
        score/ score.log    score.json from the trusted scorer, and log
        verification.json   filesystem diffs, data hashes, image layers, surface hash
        timings.json        seconds per phase (gate, build, train, infer, score, verify)
        record.json         the outcome (cluster: placement per phase); written last: its presence means "done"
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from afr_box.orchestrator.durable import atomic_write_text

RECORD = "record.json"


def candidate_id(index: int) -> str:
    return f"{index:04d}"


def record_dir(campaign_dir: Path, cand: str) -> Path:
    return campaign_dir / "candidates" / cand


def write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_json_or(path: Path, default: Any) -> Any:
    """A record file that may be missing or unreadable (a container that died early)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return default


def fresh_record(campaign_dir: Path, cand: str) -> Path:
    """An empty record folder; a half-written one from an interrupted run is discarded."""
    folder = record_dir(campaign_dir, cand)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def is_complete(folder: Path) -> bool:
    return (folder / RECORD).is_file()


def writable_out(folder: Path, user: str) -> Path:
    """A bind-mount target the container's non-root user can write (and nobody else)."""
    folder.mkdir(parents=True, exist_ok=True)
    uid, gid = (int(x) for x in user.split(":"))
    if os.geteuid() == 0:
        os.chown(folder, uid, gid)
        os.chmod(folder, 0o700)
    else:
        os.chmod(folder, 0o777)
    return folder
