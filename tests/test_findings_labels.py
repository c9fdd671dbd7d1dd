"""The finish step's labels and tables from records alone (no Docker): paired differences over seeds
decide robust repeated gain, seed-sensitive, selected artifact, held-out false positive and
recovered by scalar control; findings.md leads with the held-out part; summary tables and chart."""
from __future__ import annotations

import csv
import shutil

import pytest

from afr_box.orchestrator.findings import labels
from afr_box.orchestrator.findings.finish import compute_findings
from afr_box.orchestrator.records.layout import FULLTEST, HELDOUT, REPEATS, CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, save
from afr_box.orchestrator.records.repeats import Repeat, append_repeat
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.orchestrator.records.status import Status
from afr_box.profiles.schema import load_profile, profile_path
from afr_box.reports.findings import findings_markdown, write_findings_summary
from afr_box.reports.stats import paired_difference
from afr_box.reports.summary import write_summary

SEEDS = [42, 43, 44, 45, 46]


def d(values):
    return paired_difference(dict(enumerate(values)), dict(enumerate([0.0] * len(values))))


@pytest.mark.parametrize("evaluation, heldout, expected", [
    ([-0.01, 0.0, 0.01, -0.02, 0.0], [0.1] * 5, labels.ARTIFACT),                 # mean below 0
    ([0.0] * 5, [0.1] * 5, labels.ARTIFACT),                                      # no gain at all
    ([0.05, -0.03, 0.04, 0.0, -0.01], [0.1] * 5, labels.SEED_SENSITIVE),          # interval includes 0
    ([0.03, 0.02, 0.04, 0.03, 0.02], [-0.01, 0.0, -0.02, 0.01, 0.0], labels.HELDOUT_FALSE_POSITIVE),
    ([0.03, 0.02, 0.04, 0.03, 0.02], [0.05, -0.03, 0.04, 0.0, -0.01], labels.HELDOUT_INCONCLUSIVE),
    ([0.03, 0.02, 0.04, 0.03, 0.02], [0.02, 0.03, 0.02, 0.02, 0.03], labels.ROBUST),
    ([0.03] * 5, [0.02] * 5, labels.ROBUST),                                       # a seed-invariant gain
])
def test_labels(evaluation, heldout, expected):
    assert labels.label(d(evaluation), d(heldout), True, has_heldout=True) == expected


def test_direction_no_heldout_and_no_repeats():
    falls = d([-0.03, -0.02, -0.04, -0.03, -0.02])   # a loss that falls: a gain when lower is better
    assert labels.label(falls, falls, False, has_heldout=True) == labels.ROBUST
    assert labels.label(falls, None, True, has_heldout=True) == labels.ARTIFACT
    assert labels.label(d([0.03, 0.02, 0.04]), None, True, has_heldout=False) == f"{labels.ROBUST} (no held-out part)"
    assert labels.label(None, None, True, has_heldout=True) == labels.NOT_REPEATED


def test_recovered_by_a_control_that_reaches_it():
    finding = {42: 0.80, 43: 0.81, 44: 0.80}
    assert labels.recovered(finding, {42: 0.80, 43: 0.80, 44: 0.81}, True)       # the same, within noise
    assert labels.recovered(finding, {42: 0.82, 43: 0.83, 44: 0.82}, True)       # the control is better
    assert not labels.recovered(finding, {42: 0.70, 43: 0.71, 44: 0.70}, True)   # clearly below it
    assert not labels.recovered(finding, {99: 0.9}, True)                        # no matched seeds


def fake_campaign(tmp_path, name: str, scores: dict, proposer="optuna", sampler="tpe") -> CampaignFolder:
    """A finished-looking heart campaign: rows, repeats on each split, campaign.json, profile.yaml."""
    folder = CampaignFolder(tmp_path / name)
    folder.path.mkdir(parents=True)
    shutil.copyfile(profile_path("heart"), folder.profile)
    save(CampaignMeta(name=name, task="heart", proposer=proposer, sampler=sampler, seed=0, profile_sha256="x",
                      policy="scalar-hpo", policy_sha256="y", base_image_id="sha256:0", created_at="2026-01-01T00:00:00Z"),
         folder.meta)
    log = RunLog(folder.results)
    for i, (cand, (campaign, _)) in enumerate(scores.items()):
        log.append(Row(commit="0" * 12, score=campaign, runtime_seconds=60, budget="b",
                       status=Status.KEEP if i in (0, 1) else Status.DISCARD, target="heart", description=f"cand {cand}",
                       artifacts=f"candidates/{cand}", candidate=cand, image_id="", surface_hash="", policy="scalar-hpo",
                       seed=42, proposer="baseline" if i == 0 else proposer,
                       finished_at=f"2026-01-01T00:0{i + 1}:00Z"))
    for cand, (_, by_split) in scores.items():
        for split, file in (("test", REPEATS), ("heldout", HELDOUT), ("full", FULLTEST)):
            for seed, value in zip(SEEDS, by_split[split]):
                append_repeat(folder / file, Repeat(cand, seed, value, Status.SCORED, 30.0, "sha256:x"))
    return folder


def split(test, heldout, full):
    return {"test": test, "heldout": heldout, "full": full}


def test_compute_findings_summary_and_tables(tmp_path):
    base = split([0.70] * 5, [0.72] * 5, [0.7304] * 5)
    robust = split([0.74, 0.75, 0.74, 0.75, 0.74], [0.76, 0.77, 0.76, 0.76, 0.77], [0.75] * 5)
    artifact = split([0.69, 0.71, 0.70, 0.69, 0.70], [0.72] * 5, [0.73] * 5)
    folder = fake_campaign(tmp_path, "heart-tpe", {"0000": (0.70, base), "0003": (0.76, robust), "0005": (0.75, artifact)})
    profile = load_profile(folder.profile)
    control = fake_campaign(tmp_path, "heart-random", {"0000": (0.70, base), "0002": (0.76, robust)}, sampler="random")
    control_record = compute_findings(control, profile, SEEDS, ["0000", "0002"], [])
    assert [f.label for f in control_record.findings] == ["baseline", labels.ROBUST]

    record = compute_findings(folder, profile, SEEDS, ["0000", "0003", "0005"], [control_record])
    by = {f.candidate: f for f in record.findings}
    assert record.baseline == "0000" and record.best == "0003" and by["0003"].selected
    assert by["0003"].splits["heldout"].diff == pytest.approx(0.044) and by["0003"].splits["heldout"].diff_n == 5
    assert by["0003"].label == f"{labels.ROBUST}; {labels.RECOVERED}" and by["0003"].recovered_by == "heart-random/0002"
    assert by["0005"].label == labels.ARTIFACT and by["0000"].splits["full"].mean == pytest.approx(0.7304)

    save(record, folder.findings)
    save(control_record, control.findings)
    text = write_findings_summary(folder.path).read_text()
    header = next(line for line in text.splitlines() if line.startswith("| candidate"))
    assert header.index("held-out mean") < header.index("evaluation set mean") < header.index("whole test set mean")
    assert "| 0003 (selected) | robust repeated gain; recovered by scalar control (heart-random/0002) |" in text
    assert "+0.0440 ± " in text and findings_markdown(folder.path) == text

    out = write_summary([folder.path, control.path], tmp_path / "summary")
    md = out.read_text()
    assert "## Table III: campaigns" in md and "## Table IV: FLamby tasks (per-client mean)" in md
    assert "| heart-tpe | heart | optuna (tpe) | scalar-hpo | 3 | 0 | 0 | 1.00 |" in md
    assert "0.7200 ± 0.0000 | 0003 | 0.7640 ± 0.0055 | +0.0440 ± 0.0068 | +6.11 |" in md
    assert "0.7304 / 0.7500" in md   # the whole test set beside the held-out figures
    rows = list(csv.DictReader((tmp_path / "summary/summary.csv").open()))
    assert rows[0]["rel_gain_pct"].startswith("6.11") and rows[1]["campaign"] == "heart-random"
    assert (tmp_path / "summary/relative-gain.png").stat().st_size > 1000
    assert "data:image/png;base64" in (tmp_path / "summary/summary.html").read_text()


def test_summary_of_an_unfinished_campaign_says_how_to_finish_it(tmp_path):
    folder = fake_campaign(tmp_path, "heart-open", {"0000": (0.70, split([0.7] * 5, [0.7] * 5, [0.7] * 5))})
    md = write_summary([folder.path], tmp_path / "s").read_text()
    assert "not finished: `afr-box finish runs/heart-open`" in md
