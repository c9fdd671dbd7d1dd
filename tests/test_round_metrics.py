"""round_metrics.json: what the collector may write, what the runner and the host refuse."""
from __future__ import annotations

import json

import pytest

from afr_box.sandbox.harness.round_metrics import MAX_BYTES, MAX_METRICS, RoundMetricsError, parse_round_metrics
from afr_box.sandbox.outputs import check_outputs

SITES = ["site-1", "site-2"]


def good() -> dict:
    return {"rounds": [{"round": r, "clients": {s: {"global_accuracy": 0.5 + r / 10, "train_loss": 0.7 - r / 10}
                                                for s in SITES},
                        "aggregate": {"global_accuracy": 0.5 + r / 10}, "nonfinite": []} for r in range(3)],
            "dropped": 0}


def test_a_collector_file_parses_and_keeps_nulls_for_diverged_rounds():
    data = good()
    data["rounds"][2]["clients"]["site-2"]["train_loss"] = None
    data["rounds"][2]["nonfinite"] = ["site-2/train_loss"]
    parsed = parse_round_metrics(json.dumps(data).encode(), rounds=3, clients=SITES)
    assert [e.round for e in parsed.rounds] == [0, 1, 2]
    assert parsed.rounds[2].clients["site-2"]["train_loss"] is None


@pytest.mark.parametrize("text, message", [
    ('{"rounds": [{"round": 0, "clients": {"site-1": {"train_loss": NaN}}}]}', "NaN is not a finite number"),
    ('{"rounds": [{"round": 0, "aggregate": {"train_loss": Infinity}}]}', "Infinity is not a finite number"),
    ('{"rounds": [{"round": 0, "aggregate": {"train_loss": 1e999}}]}', "finite"),
    ('{"rounds": [{"round": 0, "aggregate": {"train_loss": "0.5"}}]}', "valid number"),
    ('{"rounds": [{"round": 0, "aggregate": {"<script>": 0.5}}]}', "metric name"),
    ('{"rounds": [{"round": -1}]}', "greater than or equal to 0"),
    ('{"rounds": [], "extra": 1}', "Extra inputs"),
    ("not json", "not strict JSON"),
])
def test_malformed_files_are_refused_with_what_is_wrong(text, message):
    with pytest.raises(RoundMetricsError, match=message):
        parse_round_metrics(text.encode())


def test_budget_bounds_rounds_and_sites():
    with pytest.raises(RoundMetricsError, match="not distinct rounds of the budget's 2"):
        parse_round_metrics(json.dumps(good()).encode(), rounds=2, clients=SITES)
    with pytest.raises(RoundMetricsError, match="not budget sites"):
        parse_round_metrics(json.dumps(good()).encode(), rounds=3, clients=["site-1"])


def test_oversized_and_too_many_metrics_are_refused():
    with pytest.raises(RoundMetricsError, match="bytes"):
        parse_round_metrics(b" " * (MAX_BYTES + 1))
    crowded = {"rounds": [{"round": 0, "aggregate": {f"m{i}": 0.0 for i in range(MAX_METRICS + 1)}}]}
    with pytest.raises(RoundMetricsError, match="metrics"):
        parse_round_metrics(json.dumps(crowded).encode())


def test_the_host_refuses_a_round_metrics_file_the_runner_would_not_write(tmp_path):
    out = tmp_path / "train"
    out.mkdir()
    (out / "model.npz").write_bytes(b"")
    (out / "train_stats.json").write_text("{}")
    assert check_outputs(out, "train", ["site-1"]) == ""  # absent: a run that recorded no round
    (out / "round_metrics.json").write_text(json.dumps(good()))
    assert check_outputs(out, "train", ["site-1"]) == ""
    (out / "round_metrics.json").write_text('{"rounds": [{"round": 0, "aggregate": {"loss": NaN}}]}')
    assert check_outputs(out, "train", ["site-1"]) == "round_metrics.json: not strict JSON (NaN is not a finite number)"
    (out / "round_metrics.json").write_bytes(b"[" * (MAX_BYTES + 10))
    assert "bytes (at most" in check_outputs(out, "train", ["site-1"])
