"""One short candidate of a task through the full campaign path (gate, build, train, infer,
score, verify, log), on data prepared from a given source folder, with a shrunk budget.

Used by every task's end-to-end test, so each proves the same thing the same way: the task's
bridge reads its on-disk format, its surface trains in a hardened container, its fixed
predict step and metric score it in separate containers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import yaml

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.data import prepare_task
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.profiles.schema import load_profile, profile_path


def shrunk_profile(task: str, folder: Path, **budget) -> Path:
    """profiles/<task>.yaml with budget fields replaced (e.g. rounds=1), written into `folder`."""
    spec = yaml.safe_load(profile_path(task).read_text())
    for key, value in budget.items():
        if key == "local_steps":
            spec["budget"]["local_steps"] = {"baseline": value, "min": 1, "max": max(value, spec["budget"]["local_steps"]["max"])}
            spec["search_space"] = [d for d in spec.get("search_space", []) if d["knob"] != "local_steps"]
        else:
            spec["budget"][key] = value
    path = Path(folder) / f"{task}-short.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_short_campaign(task: str, source: Optional[Path], tmp: Path, options: Optional[dict] = None,
                       candidates: int = 1, policy: Optional[str] = None, **budget) -> tuple[Path, list[Row]]:
    """Prepare `task` from `source` into tmp/afr-data, run `candidates` candidates (the baseline
    first) with the shrunk budget, and return the campaign folder and its rows."""
    profile_file = shrunk_profile(task, tmp, **budget)
    data_root = tmp / "afr-data"
    prepare_task(load_profile(profile_file), data_root, source, False, options)
    opts = CampaignOptions(task=task, proposer="hpo", max_candidates=candidates, name=f"e2e-{task}",
                           runs_dir=tmp / "runs", data_root=data_root, profile=profile_file, policy=policy)
    folder = run_campaign(opts)
    return folder, RunLog(folder / "results.tsv").rows()


def assert_scored_in_hardened_containers(folder: Path, row: Row) -> dict:
    """The row scored, and its record proves the three hardened containers; returns score.json."""
    assert row.status == "keep" and row.score is not None, (row.status, row.reason)
    record = folder / row.artifacts
    containers = json.loads((record / "containers.json").read_text())
    assert set(containers) == {"train", "infer", "score"}
    for phase, c in containers.items():
        assert c["read_only"] and c["network_mode"] == "none" and c["cap_drop"] == ["ALL"], phase
        assert [m["target"] for m in c["mounts"] if not m["read_only"]] == ["/out"], phase
    assert containers["score"]["image"] != row.image_id  # the scorer runs the base image
    assert json.loads((record / "verification.json").read_text())["ok"]
    return json.loads((record / "score" / "score.json").read_text())
