"""afr_box.load_campaign on a campaign folder written with the records' own writers."""
from __future__ import annotations

import json
import shutil

import pytest

import afr_box
from afr_box.orchestrator.errors import RecordError
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, ProposalRecord, ScoreRecord, save
from afr_box.orchestrator.records.repeats import Repeat, append_repeat
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.orchestrator.records.status import Status
from afr_box.profiles.schema import profile_path


def _row(i: int, status: str, score, proposer: str) -> Row:
    return Row(commit=f"{i:012x}", score=score, runtime_seconds=10.0 + i, budget="rounds=2", status=status,
               target="heart", description=f"try {i}", artifacts=f"candidates/{i:04d}", candidate=f"{i:04d}",
               image_id=f"sha256:{i:064x}", surface_hash=f"{i:064x}", policy="scalar-hpo", seed=42,
               proposer=proposer)


@pytest.fixture
def campaign(tmp_path):
    folder = CampaignFolder(tmp_path / "reports-api")
    folder.path.mkdir()
    save(CampaignMeta(name="reports-api", task="heart", proposer="hpo", profile_sha256="0" * 64, policy="scalar-hpo",
                      policy_sha256="1" * 64, base_image_id="sha256:" + "2" * 64), folder.meta)
    shutil.copyfile(profile_path("heart"), folder.profile)
    log = RunLog(folder.results)
    for i, (status, score, proposer) in enumerate([("keep", 0.70, "baseline"), ("keep", 0.75, "hpo"),
                                                   ("crash", None, "hpo")]):
        record = folder.candidate(f"{i:04d}")
        (record.surface / "heart").mkdir(parents=True)
        (record.surface / "heart" / "knobs.yaml").write_text(f"lr: {0.01 * (i + 1)}\n")
        save(ProposalRecord(description=f"try {i}", proposer=proposer,
                            **({"agent": {"input_tokens": 100, "output_tokens": 20, "cost_usd_estimate": 0.01}}
                               if i == 1 else {})), record.proposal)
        if score is not None:
            record.score.parent.mkdir()
            save(ScoreRecord(score=score, per_client={"site-1": score - 0.01, "site-2": score + 0.01}), record.score)
            record.round_metrics.parent.mkdir()
            record.round_metrics.write_text(json.dumps({"rounds": [
                {"round": r, "aggregate": {"train_loss": 0.7 - 0.1 * r}, "clients": {"site-1": {"train_loss": 0.7}}}
                for r in range(2)]}))
        log.append(_row(i, status, score, proposer))
    append_repeat(folder / "repeats.tsv", Repeat("0001", 43, 0.74, Status.KEEP, 10.0, "sha256:x"))
    return folder.path


def test_typed_records_and_frames(campaign):
    c = afr_box.load_campaign(campaign)
    assert c.name == "reports-api" and [x.id for x in c.candidates] == ["0000", "0001", "0002"]
    assert c.best.id == "0001" and c.baseline.id == "0000"
    assert c.candidate("0001").agent["input_tokens"] == 100 and c.candidate("0001").mechanisms == ["knobs"]
    assert c.candidate("0002").rounds is None and c.candidate("0002").score is None
    frames = c.to_pandas()
    assert list(frames.candidates["candidate"]) == ["0000", "0001", "0002"]
    assert list(frames.candidates["knob.lr"]) == [0.01, 0.02, 0.03]
    assert frames.per_client.query("candidate == '0001' and client == 'site-2'")["score"].item() == pytest.approx(0.76)
    agg = frames.rounds.query("client == 'aggregate' and candidate == '0001'")
    assert list(agg["round"]) == [0, 1] and list(agg["value"]) == pytest.approx([0.7, 0.6])
    assert frames.repeats.to_dict("records") == [{"candidate": "0001", "seed": 43, "score": 0.74, "status": "keep",
                                                  "split": "repeat"}]


def test_errors_name_the_file(campaign, tmp_path):
    with pytest.raises(RecordError, match="not a campaign folder"):
        afr_box.load_campaign(tmp_path)
    with pytest.raises(RecordError, match="has no candidate '0009'"):
        afr_box.load_campaign(campaign).candidate("0009")
    bad = campaign / "candidates" / "0001" / "train" / "round_metrics.json"
    bad.write_text('{"rounds": [{"round": 0, "aggregate": {"train_loss": NaN}}]}')
    with pytest.raises(RecordError, match="round_metrics.json: not strict JSON .* altered after the run"):
        afr_box.load_campaign(campaign).candidates
