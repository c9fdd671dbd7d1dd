"""LEAF Shakespeare: character encoding, the bridge on LEAF's exact format, the metric, one campaign."""
from __future__ import annotations

import json

import numpy as np
import pytest

from afr_box.tasks.shared.formats.leaf_text import ALL_LETTERS, letters_to_ids
from prepared_arrays import load_part
from afr_box.tasks.shakespeare import bridge
from afr_box.tasks.shared.sources import DataSourceError
from fixtures.leaf_text_models import bridge_models
from fixtures.shakespeare_format import write_shakespeare
from task_campaign import assert_scored_in_hardened_containers, run_short_campaign
from task_metric import task_metric

score = task_metric('shakespeare')


def test_alphabet_is_leafs_80_letters():
    assert len(ALL_LETTERS) == 80 and len(set(ALL_LETTERS)) == 80
    assert letters_to_ids("\n A}") == [0, 1, 25, 79]
    with pytest.raises(DataSourceError, match="'~' is not in LEAF's 80-letter alphabet"):
        letters_to_ids("a~")


def test_bridge_reads_leafs_format(tmp_path):
    source = write_shakespeare(tmp_path / "src")
    raw = json.loads(next((source / "train").glob("*.json")).read_text())
    raw_test = json.loads(next((source / "test").glob("*.json")).read_text())
    # LEAF's split records each user's test count before dropping the 79 overlapping windows
    assert all(n == len(raw_test["user_data"][u]["y"]) + 79 for u, n in zip(raw_test["users"], raw_test["num_samples"]))
    dest = bridge.prepare(tmp_path / "out", source=source, options={"num_clients": 4})
    manifest = json.loads((dest / "manifest.json").read_text())
    sizes = manifest["sites"]
    assert len(sizes) == 4 and manifest["provenance"]["users_per_client"] == [2, 2, 1, 1]
    assert sum(s["train"] for s in sizes.values()) == sum(raw["num_samples"])
    assert sum(s["test"] for s in sizes.values()) == sum(raw_test["num_samples"]) - 79 * len(raw_test["users"])
    site = load_part(dest / "train" / "site-1")
    assert site["x"].dtype == np.int64 and site["x"].shape == (sizes["site-1"]["train"], 80)
    # site-1 holds the first user in sorted order; its first sample decodes back to the raw text
    first = sorted(raw["users"])[0]
    assert "".join(ALL_LETTERS[i] for i in site["x"][0]) == raw["user_data"][first]["x"][0]
    assert ALL_LETTERS[site["y"][0]] == raw["user_data"][first]["y"][0]
    test_x = load_part(dest / "test_inputs" / "site-1")
    assert set(test_x) == {"x"} and len(load_part(dest / "test_labels" / "site-1")["y"]) == len(test_x["x"])
    again = bridge.prepare(tmp_path / "again", source=source, options={"num_clients": 4})
    assert json.loads((again / "manifest.json").read_text())["files"] == manifest["files"]


def test_bridge_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(DataSourceError, match="cannot be downloaded"):
        bridge.prepare(tmp_path / "out", options={"num_clients": 2})
    with pytest.raises(ValueError, match="unknown shakespeare data option"):
        bridge.prepare(tmp_path / "out", source=tmp_path, options={"num_clients": 2, "vocab": 3})
    with pytest.raises(DataSourceError, match=r"no LEAF JSON files in .*train"):
        bridge.prepare(tmp_path / "out", source=tmp_path, options={"num_clients": 2})
    source = write_shakespeare(tmp_path / "src", users=2)
    with pytest.raises(DataSourceError, match="cannot group 2 LEAF users into 3 clients"):
        bridge.prepare(tmp_path / "out", source=source, options={"num_clients": 3})
    shard = next((source / "train").glob("*.json"))
    data = json.loads(shard.read_text())
    user = data["users"][0]
    data["user_data"][user]["x"][3] = data["user_data"][user]["x"][3][:79]
    shard.write_text(json.dumps(data))
    with pytest.raises(DataSourceError, match="expected x an 80-character string"):
        bridge.prepare(tmp_path / "out", source=source, options={"num_clients": 2})


def test_metric_known_values_and_checks():
    y = np.array([3, 5, 79])
    scores = np.zeros((3, 80), dtype=np.float32)
    scores[0, 3] = scores[1, 4] = scores[2, 79] = 1.0
    assert score(y, scores) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"shape \(n, 80\)"):
        score(y, scores[:, :10])
    with pytest.raises(ValueError):
        score(y, scores[:2])
    with pytest.raises(ValueError):
        score(y, np.full((3, 80), np.nan))


def test_model_is_leafs_stacked_lstm():
    import torch

    model = bridge_models("shakespeare").build_model("stacked_lstm")
    assert sum(p.numel() for p in model.parameters()) == 819_920
    out = model(torch.zeros((4, 80), dtype=torch.long))
    assert out.shape == (4, 80)


def test_short_campaign_end_to_end(tmp_path, sandbox):
    source = write_shakespeare(tmp_path / "src", users=4, chars=900)
    folder, rows = run_short_campaign("shakespeare", source, tmp_path, clients=2, rounds=1, local_steps=3)
    score = assert_scored_in_hardened_containers(folder, rows[0])
    assert 0.0 <= rows[0].score <= 1.0
