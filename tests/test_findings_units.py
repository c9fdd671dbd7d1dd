"""What the README promises of `compare`, `repeat --top` and `workspace init runs/<campaign>`, on
hand-written campaign folders (these commands read records only; no engine needed)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.external.workspace import WORKSPACE_FILE, init_workspace
from afr_box.orchestrator.findings.repeats import select
from afr_box.orchestrator.records.models import CampaignMeta, save
from afr_box.orchestrator.records.repeats import Repeat, append_repeat
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.policies.schema import policy_path
from afr_box.profiles.schema import profile_path
from afr_box.tasks.shared.hashing import sha256_file


def campaign(folder, rows: list[tuple[str, float | None]], task="heart", policy="scalar-hpo", proposer="hpo",
             higher=True):
    """A campaign folder as the loop leaves it: campaign.json, the profile and policy copies, results.tsv
    (one row per (status, score), 60 s each, a minute apart) and each candidate's surface."""
    folder.mkdir(parents=True)
    profile_text = profile_path(task).read_text()
    if not higher:
        profile_text = profile_text.replace("higher_is_better: true", "higher_is_better: false")
    (folder / "profile.yaml").write_text(profile_text)
    (folder / "policy.yaml").write_text(policy_path(policy).read_text())
    save(CampaignMeta(name=folder.name, task=task, proposer=proposer, profile_sha256=sha256_file(profile_path(task)),
                      policy=policy, policy_sha256=sha256_file(policy_path(policy)), base_image_id="sha256:0"),
         folder / "campaign.json")
    log = RunLog(folder / "results.tsv")
    for i, (status, score) in enumerate(rows):
        cand = f"{i:04d}"
        surface = folder / "candidates" / cand / "surface" / task
        surface.mkdir(parents=True)
        (surface / "knobs.yaml").write_text(f"lr: 0.0{i + 1}\n")
        log.append(Row(commit=f"{i:012x}", score=score, runtime_seconds=60, budget="b", status=status, target=task,
                       description=f"try {i}", artifacts=f"candidates/{cand}", candidate=cand,
                       image_id=f"sha256:{i}", surface_hash=f"{i:064x}", policy=policy, seed=42,
                       proposer="baseline" if i == 0 else proposer, finished_at=f"2026-01-01T00:{i + 1:02d}:00Z"))
    return folder


def test_compare_puts_two_campaigns_side_by_side(tmp_path):
    a = campaign(tmp_path / "heart-scalar", [("keep", 0.70), ("discard", 0.69), ("keep", 0.72), ("crash", None)])
    b = campaign(tmp_path / "heart-open", [("keep", 0.70), ("rejected", None), ("literature", None),
                                           ("keep", 0.75), ("violation", 0.99)], policy="architecture-open",
                 proposer="claude")
    for seed, base, best in ((42, 0.70, 0.75), (43, 0.71, 0.73)):
        append_repeat(b / "repeats.tsv", Repeat("0000", seed, base, "scored", 1.0, "sha256:0"))
        append_repeat(b / "repeats.tsv", Repeat("0003", seed, best, "scored", 1.0, "sha256:3"))
    result = CliRunner().invoke(main, ["compare", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    ra, rb = json.loads(result.output)
    assert (ra["campaign"], ra["policy"], ra["proposer"], ra["candidates"], ra["kept"], ra["crash"]) == \
        ("heart-scalar", "scalar-hpo", "hpo", 4, 2, 1)
    assert (ra["baseline"], ra["best"], ra["best id"], ra["wall h"]) == ("0.7", "0.72", "0002", "0.07")
    assert (rb["candidates"], rb["rejected"], rb["violation"], rb["literature"]) == (4, 1, 1, 1)
    assert (rb["best"], rb["best id"]) == ("0.75", "0003")  # the violation's 0.99 is never the best
    assert (rb["repeat mean baseline"], rb["repeat mean best"]) == ("0.7050", "0.7400")
    assert ra["repeat mean best"] == "-"
    text = CliRunner().invoke(main, ["compare", str(a), str(b), "--out", str(tmp_path / "t.md")])
    assert text.exit_code == 0 and (tmp_path / "t.md").read_text() == text.output.rstrip("\n") + "\n"
    assert "| heart-open | architecture-open | claude | 4 | 2 | 0 | 1 | 1 | 1 |" in text.output


def test_compare_refuses_campaigns_of_two_tasks(tmp_path):
    a = campaign(tmp_path / "h", [("keep", 0.7)])
    b = campaign(tmp_path / "s", [("keep", 0.8)], task="synthetic")
    result = CliRunner().invoke(main, ["compare", str(a), str(b)])
    assert result.exit_code == 2 and "campaigns of one task" in result.output and "heart, synthetic" in result.output


@pytest.mark.parametrize("higher, top, expected", [
    (True, 2, ["0000", "0003", "0002"]),   # baseline first, then the two best (0.80, 0.75)
    (False, 2, ["0000", "0001", "0004"]),  # lower is better: 0.60, then 0.65 (a discard counts too)
    (True, 0, ["0000"]),
    (True, 9, ["0000", "0003", "0002", "0004", "0001"]),  # every scored one, never the crash or violation
])
def test_repeat_top_picks_the_best_scored(tmp_path, higher, top, expected):
    folder = campaign(tmp_path / "c", [("keep", 0.70), ("discard", 0.60), ("keep", 0.75), ("keep", 0.80),
                                       ("discard", 0.65), ("crash", None), ("violation", 0.99)], higher=higher)
    assert select(folder, ["baseline"], top, higher) == expected


def test_repeat_best_names_the_best_kept(tmp_path):
    folder = campaign(tmp_path / "c", [("keep", 0.70), ("discard", 0.90), ("keep", 0.75)])
    assert select(folder, ["baseline", "best"], 0, True) == ["0000", "0002"]  # a discard is never "best"
    assert select(folder, ["best", "0001"], 1, True) == ["0002", "0001"]


def test_workspace_init_on_a_campaign_starts_from_its_best_kept_surface(tmp_path):
    folder = campaign(tmp_path / "runs" / "heart-a", [("keep", 0.70), ("keep", 0.74), ("discard", 0.80)])
    result = CliRunner().invoke(main, ["workspace", "init", str(folder), "--dir", str(tmp_path / "ws"),
                                       "--data-root", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    ws = tmp_path / "ws"
    assert (ws / "surface" / "heart" / "knobs.yaml").read_text() == "lr: 0.02\n"  # 0001: the best kept
    state = json.loads((ws / WORKSPACE_FILE).read_text())
    assert state["campaign_dir"] == str(folder.resolve()) and state["task"] == "heart"
    assert (ws / "AGENTS.md").read_text() == (ws / "CLAUDE.md").read_text()
    assert f"workspace of campaign {folder.name}" in (ws / "AGENTS.md").read_text()
    assert not (tmp_path / "runs" / "heart-a" / "candidates" / "0003").exists()  # init runs nothing
    with pytest.raises(Exception, match="not empty"):
        init_workspace(str(folder), ws, tmp_path / "data")
