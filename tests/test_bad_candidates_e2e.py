"""Broken candidates end as rows with a clear status and reason, and the campaign goes on."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.records.runlog import RunLog
from afr_box.tasks.shared.layout import repo_file
from isolation import run_name
from task_campaign import one_seed_profile

SURFACE = ["synthetic/knobs.yaml", "synthetic/client.py", "synthetic/job.py", "synthetic/models.py",
           "shared/aggregators.py", "shared/local_training.py", "shared/recipes.py"]


def snapshot(root: Path, name: str, description: str, edits: dict[str, str]) -> None:
    """A complete architecture-open surface with some files replaced (or added)."""
    surface = root / name / "surface"
    for rel in SURFACE:
        (surface / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo_file(rel), surface / rel)
    for rel, text in edits.items():
        (surface / rel).parent.mkdir(parents=True, exist_ok=True)
        (surface / rel).write_text(text)
    (root / name / "description.txt").write_text(description)


def client_with(old: str, new: str) -> str:
    text = repo_file("synthetic/client.py").read_text()
    assert old in text
    return text.replace(old, new)


@pytest.fixture(scope="module")
def bad_campaign(sandbox, data_root, tmp_path_factory):
    snaps = tmp_path_factory.mktemp("snapshots")
    snapshot(snaps, "1-syntax", "client with a syntax error",
             {"synthetic/client.py": client_with("def main():", "def main(:")})
    snapshot(snaps, "2-raises", "client raises in training",
             {"synthetic/client.py": client_with("        diff = {",
                                                 "        raise RuntimeError(\"deliberate failure in training\")\n        diff = {")})
    snapshot(snaps, "3-outside", "edits the data bridge (outside the surface)",
             {"synthetic/bridge.py": "# tampered\n"})
    snapshot(snaps, "4-rounds", "job asks for more rounds than the budget",
             {"shared/recipes.py": repo_file("shared/recipes.py").read_text().replace(
                 'num_rounds=budget["rounds"]', 'num_rounds=budget["rounds"] + 3')})
    snapshot(snaps, "5-fine", "a valid candidate after the broken ones",
             {"synthetic/knobs.yaml": repo_file("synthetic/knobs.yaml").read_text().replace("lr: 0.05", "lr: 0.1")})
    runs = tmp_path_factory.mktemp("runs")
    return run_campaign(CampaignOptions(task="synthetic", proposer="snapshots", snapshots=snaps, max_candidates=10,
                                        policy="architecture-open", name=run_name("e2e-bad"), runs_dir=runs,
                                        data_root=data_root, profile=one_seed_profile("synthetic", runs)))


def rows_by_description(folder: Path) -> dict:
    return {r.description: r for r in RunLog(folder / "results.tsv").rows()}


def test_syntax_error_is_rejected_by_the_gate(bad_campaign):
    row = rows_by_description(bad_campaign)["client with a syntax error"]
    assert row.status == "rejected" and row.score is None
    assert re.search(r"synthetic/client.py:\d+: SyntaxError", row.reason), row.reason
    assert row.image_id == ""  # rejected before any build


def test_training_exception_is_a_crash_with_the_log_tail(bad_campaign):
    row = rows_by_description(bad_campaign)["client raises in training"]
    assert row.status == "crash" and row.score is None
    assert row.reason.startswith("train:")
    assert "deliberate failure in training" in (bad_campaign / row.artifacts / "train.log").read_text()


def test_file_outside_the_surface_is_rejected(bad_campaign):
    row = rows_by_description(bad_campaign)["edits the data bridge (outside the surface)"]
    assert row.status == "rejected" and "synthetic/bridge.py" in row.reason


def test_budget_change_in_job_is_a_violation(bad_campaign):
    row = rows_by_description(bad_campaign)["job asks for more rounds than the budget"]
    assert row.status == "violation" and "num_rounds" in row.reason and row.score is None


def test_campaign_goes_on_after_broken_candidates(bad_campaign):
    rows = RunLog(bad_campaign / "results.tsv").rows()
    assert [r.candidate for r in rows] == [f"{i:04d}" for i in range(6)]
    assert rows[0].status == "keep" and rows[-1].status in ("keep", "discard") and rows[-1].score is not None
