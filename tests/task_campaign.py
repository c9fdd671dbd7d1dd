"""One short candidate of a task through the full campaign path (gate, build, train, infer,
score, verify, log), on data prepared from a given source folder, with a shrunk budget.

Used by every task's end-to-end test, so each proves the same thing the same way: the task's
bridge reads its on-disk format, its surface trains in a hardened container, its fixed
predict step and metric score it in separate containers.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
import yaml

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.data import prepare_task
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.policies.schema import policy_path
from afr_box.profiles.schema import load_profile, profile_path
from afr_box.tasks.shared.metrics import compute
from isolation import run_name


def shrunk_profile(task: str, folder: Path, **budget) -> Path:
    """profiles/<task>.yaml with budget fields replaced (e.g. rounds=1), written into `folder`.

    A task's end-to-end test checks its path (bridge, surface, predict, metric) on the whole test
    set with one seed: the variant measures no noise floor and holds nothing out (the findings
    defaults have tests of their own: test_noise_e2e, test_heldout, test_finish_e2e)."""
    spec = yaml.safe_load(profile_path(task).read_text())
    spec.update({"noise_seeds": 1, "heldout_fraction": 0.0})
    for key, value in budget.items():
        if key == "local_steps":
            spec["budget"]["local_steps"] = {"baseline": value, "min": 1, "max": max(value, spec["budget"]["local_steps"]["max"])}
            spec["search_space"] = [d for d in spec.get("search_space", []) if d["knob"] != "local_steps"]
        else:
            spec["budget"][key] = value
    path = Path(folder) / f"{task}-short.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def bare_campaign_dir(tmp: Path, task: str = "synthetic", policy: str = "architecture-open") -> Path:
    """tmp/campaign holding only the shipped profile and policy: what a proposer reads of a campaign."""
    folder = tmp / "campaign"
    folder.mkdir()
    shutil.copyfile(profile_path(task), folder / "profile.yaml")
    shutil.copyfile(policy_path(policy), folder / "policy.yaml")
    return folder


def one_seed_profile(task: str, folder: Path) -> Path:
    """profiles/<task>.yaml as it ships but for the noise floor (noise_seeds 1): for tests of
    something else, which would otherwise run the baseline three times. The default path, noise
    runs included, has tests of its own (test_campaign_e2e, test_parallel_e2e, test_finish_e2e)."""
    spec = yaml.safe_load(profile_path(task).read_text())
    spec["noise_seeds"] = 1
    path = Path(folder) / f"{task}-one-seed.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_short_campaign(task: str, source: Optional[Path], tmp: Path, options: Optional[dict] = None,
                       candidates: int = 1, policy: Optional[str] = None, **budget) -> tuple[Path, list[Row]]:
    """Prepare `task` from `source` into tmp/afr-data, run `candidates` candidates (the baseline
    first) with the shrunk budget, and return the campaign folder and its rows."""
    profile_file = shrunk_profile(task, tmp, **budget)
    data_root = tmp / "afr-data"
    prepare_task(load_profile(profile_file), data_root, source, False, options)
    opts = CampaignOptions(task=task, proposer="hpo", max_candidates=candidates, name=run_name(f"e2e-{task}"),
                           runs_dir=tmp / "runs", data_root=data_root, profile=profile_file, policy=policy)
    folder = run_campaign(opts)
    return folder, RunLog(folder / "results.tsv").rows()


def assert_scored_in_hardened_containers(folder: Path, row: Row) -> dict:
    """The row scored, its record proves the three hardened containers, and its score is the
    metric recomputed here on the host from the saved predictions and the labels the scorer was
    given; returns score.json."""
    assert row.status == "keep" and row.score is not None, (row.status, row.reason)
    record = folder / row.artifacts
    containers = json.loads((record / "containers.json").read_text())
    assert set(containers) == {"train", "infer", "score"}
    for phase, c in containers.items():
        assert c["read_only"] and c["network_mode"] == "none" and c["cap_drop"] == ["ALL"], phase
        assert [m["target"] for m in c["mounts"] if not m["read_only"]] == ["/out"], phase
    assert containers["score"]["image"] != row.image_id  # the scorer runs the base image
    assert json.loads((record / "verification.json").read_text())["ok"]
    return assert_score_recomputed(folder, row)


def assert_score_recomputed(folder: Path, row: Row) -> dict:
    """The logged score is the profile's metric recomputed on the host from the candidate's saved
    predictions and the very labels its scorer was given (and the parameter count from its
    model); returns score.json."""
    record = folder / row.artifacts
    score = json.loads((record / "score" / "score.json").read_text())
    containers = json.loads((record / "containers.json").read_text())
    mounts = {m["target"]: Path(m["source"]) for m in containers["score"]["mounts"]}
    expected = recompute_score(load_profile(folder / "profile.yaml"), record / "infer" / "predictions",
                               mounts["/labels"], mounts.get("/rows"))
    assert score["per_client"] == expected["per_client"]
    assert score["score"] == expected["score"] == row.score
    with np.load(record / "train" / "model.npz") as model:
        assert score["n_params"] == sum(model[k].size for k in model.files if model[k].dtype.kind in "fiub")
    return score


def recompute_score(profile, predictions: Path, labels: Path, rows: Optional[Path] = None) -> dict:
    """The profile's metric per evaluation site and by its convention (per-client mean or pooled),
    on the rows of a held-out view's split when `rows` is given."""
    metric = profile.metric
    per_client, ys, ps = {}, [], []
    for site in profile.budget.eval_sites():
        y = np.load(labels / site / "y.npy")
        if rows is not None:
            y = y[np.load(rows / f"{site}.npy")]
        p = np.load(predictions / f"{site}.npy")
        per_client[site] = compute(metric.name, y, p, metric.classes)
        ys.append(y)
        ps.append(p)
    pooled = metric.convention == "pooled"
    value = (compute(metric.name, np.concatenate(ys), np.concatenate(ps), metric.classes) if pooled
             else float(np.mean(list(per_client.values()))))
    return {"per_client": per_client, "score": value}
