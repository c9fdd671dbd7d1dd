"""Per-round metrics end to end through the real sandbox: the trusted runner records them for an
honest candidate, and hostile surfaces that forge them (into the collector's file from the
aggregator's process, or straight into /out) end as violations. (The runner's own re-check of the
collector's file, strict JSON and finite numbers, is test_round_metrics.py's.)"""
from __future__ import annotations

import json

import pytest

from afr_box.orchestrator.records.runlog import RunLog
from afr_box.sandbox.harness.round_metrics import parse_round_metrics
from afr_box.security.attacks import default_suite
from afr_box.security.suite import run_suite

ATTACKS = ["round-metrics-nan", "round-metrics-oversized"]


@pytest.fixture(scope="module")
def suite(sandbox, data_root, tmp_path_factory):
    runs = tmp_path_factory.mktemp("reports-rounds")
    report = run_suite("architecture-open", "synthetic", default_suite(), runs, data_root, timeout_s=400,
                       only=ATTACKS, say=lambda line: None)
    return report, runs / "attacks-architecture-open-synthetic"


def test_the_runner_records_every_round_of_an_honest_run(suite):
    report, folder = suite
    assert report["control"]["status"] == "scored"
    control = next(r for r in RunLog(folder / "results.tsv").rows() if r.proposer == "baseline")
    data = (folder / control.artifacts / "train" / "round_metrics.json").read_bytes()
    rounds = parse_round_metrics(data).rounds
    assert [e.round for e in rounds] == list(range(5))               # synthetic: 5 rounds
    assert sorted(rounds[0].clients) == ["site-1", "site-2", "site-3", "site-4"]
    for entry in rounds:
        assert set(entry.aggregate) == {"global_accuracy", "train_loss"} and not entry.nonfinite
    # the aggregate is NVFlare's step-weighted mean of what the clients reported (equal steps here)
    losses = [c["train_loss"] for c in rounds[-1].clients.values()]
    assert rounds[-1].aggregate["train_loss"] == pytest.approx(sum(losses) / len(losses))
    stats = json.loads((folder / control.artifacts / "train" / "train_stats.json").read_text())
    assert stats["rounds_recorded"] == 5


def test_forged_round_metrics_are_violations(suite):
    report, _ = suite
    by_name = {r["name"]: r for r in report["results"]}
    assert all(by_name[a]["blocked"] for a in ATTACKS), by_name
    nan = by_name["round-metrics-nan"]
    assert nan["status"] == "violation"
    assert nan["reason"].startswith("train: budget violation: site isolation: a client or the aggregator was refused "
                                    "writing /tmp/afr-train/ws/afr_round_metrics.json"), nan
    huge = by_name["round-metrics-oversized"]
    assert huge["status"] == "violation" and huge["reason"].startswith("train: outputs: round_metrics.json: "), huge
    assert "bytes (at most 524288)" in huge["reason"]
