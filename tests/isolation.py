"""What keeps one test run's containers and images its own on an engine others use too.

Containers: `containers_of(client, folder)` lists a campaign folder's containers by its
`afr.folder` label; a campaign name ("e2e-heart") may be in use by another run at the same time,
so `run_name(prefix)` gives campaigns names of their own (an afr-box older than the afr.folder
label, on another branch using the same engine, cleans up by campaign name).

Images: candidate images are content-addressed (`afr-cand:<task>-<sha256(surface)[:16]>`), so two tests,
or two people's test runs on one engine, that propose the same surface share one image. A test
that deletes an image, or asserts that one was (or was not) built, uses surfaces made here: each
knobs file carries a comment unique to this run, so its image is this run's alone.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Optional

import yaml

from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.orchestrator.records.owner import folder_id
from afr_box.policies.schema import load_policy


def own_snapshots(task: str, folder: Path, variants: list[dict], policy: str = "scalar-hpo",
                  tag: Optional[str] = None) -> Path:
    """A `--proposer snapshots` folder: one baseline surface per knob variant (its knobs updated
    with the variant), every knobs file marked with `tag` (default: a fresh uuid)."""
    tag = tag or uuid.uuid4().hex
    for i, variant in enumerate(variants, start=1):
        snap = baseline_snapshot(task, load_policy(policy), Path(folder) / f"{i:02d}" / "surface")
        knobs = snap / task / "knobs.yaml"
        values = {**yaml.safe_load(knobs.read_text()), **variant}
        knobs.write_text(yaml.safe_dump(values, sort_keys=False) + f"# this test run's own surface: {tag}\n")
        (Path(folder) / f"{i:02d}" / "description.txt").write_text(
            ", ".join(f"{k}={v}" for k, v in variant.items()) or "baseline knobs")
    return Path(folder)


def containers_of(client, folder: Path) -> list:
    """Every container (running or not) of the campaign folder `folder`."""
    return client.containers.list(all=True, filters={"label": f"afr.folder={folder_id(folder)}"}, sparse=True)


def run_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
