"""LEAF FEMNIST: the bridge on LEAF's JSON (format-exact fixture and the real 5% sample),
the metric, the LEAF CNN, and one short campaign on the real data in hardened containers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from afr_box.tasks.femnist import bridge
from prepared_arrays import load_part
from afr_box.tasks.shared.prepared import verify_prepared
from afr_box.tasks.shared.sources import DataSourceError
from conftest import SHARED_DATA
from fixtures.femnist_format import write_femnist
from task_campaign import assert_scored_in_hardened_containers, run_short_campaign
from task_metric import task_metric

score = task_metric('femnist')

FEMNIST = SHARED_DATA / "leaf" / "femnist"
needs_real = pytest.mark.skipif(not FEMNIST.is_dir(), reason=f"real LEAF FEMNIST sample not at {FEMNIST}")


def _sizes(folder):
    return {k: (v["train"], v["test"]) for k, v in verify_prepared(folder)["sites"].items()}


def test_fixture_prepares_with_writers_grouped_round_robin(tmp_path):
    src = write_femnist(tmp_path / "src", writers=7)
    out = bridge.prepare(tmp_path / "femnist", source=src, options={"num_clients": 3})
    manifest = verify_prepared(out)
    groups = manifest["provenance"]["client_users"]
    writers = sorted(u for g in groups.values() for u in g)
    assert groups["site-1"] == writers[0::3] and groups["site-3"] == writers[2::3]
    assert sorted(manifest["provenance"]["shards_sha256"]) == [
        f"{s}/all_data_{i}_niid_05_keep_0_{s}_9.json" for s in ("test", "train") for i in (0, 1)]
    train = load_part(out / "train" / "site-1")
    assert train["x"].dtype == np.uint8 and train["x"].shape[1] == 784 and train["y"].dtype == np.int64
    assert set(load_part(out / "test_inputs" / "site-1")) == {"x"}
    # client 1 holds exactly its writers' samples, in writer order
    raw = {}
    for path in sorted((src / "train").glob("*.json")):
        raw.update(json.loads(path.read_text())["user_data"])
    expected_y = [y for w in groups["site-1"] for y in raw[w]["y"]]
    assert train["y"].tolist() == expected_y
    # the exact LEAF values come back as the model scales them
    np.testing.assert_array_equal(train["x"][0] / 255, raw[groups["site-1"][0]]["x"][0])


def test_preparation_is_deterministic(tmp_path):
    src = write_femnist(tmp_path / "src")
    a = verify_prepared(bridge.prepare(tmp_path / "a" / "femnist", source=src, options={"num_clients": 2}))
    b = verify_prepared(bridge.prepare(tmp_path / "b" / "femnist", source=src, options={"num_clients": 2}))
    assert a["files"] == b["files"]


def test_clear_errors(tmp_path):
    with pytest.raises(DataSourceError, match="no ready-made download.*preprocess.sh"):
        bridge.prepare(tmp_path / "f", download=True, options={"num_clients": 2})
    with pytest.raises(DataSourceError, match="does not exist"):
        bridge.prepare(tmp_path / "f", source=tmp_path / "missing", options={"num_clients": 2})
    with pytest.raises(ValueError, match="unknown femnist data option"):
        bridge.prepare(tmp_path / "f", source=tmp_path, options={"num_clients": 2, "sf": 0.05})
    src = write_femnist(tmp_path / "src", writers=4)
    with pytest.raises(DataSourceError, match="cannot group 4 LEAF users into 5 clients"):
        bridge.prepare(tmp_path / "f", source=src, options={"num_clients": 5})
    shard = sorted((src / "test").glob("*.json"))[0]
    data = json.loads(shard.read_text())
    user = data["users"][0]
    data["user_data"][user]["x"][0] = data["user_data"][user]["x"][0][:783]
    shard.write_text(json.dumps(data))
    with pytest.raises(DataSourceError, match="784 grey values"):
        bridge.prepare(tmp_path / "f", source=src, options={"num_clients": 2})
    data["user_data"][user]["x"][0] = [0.5] * 784
    shard.write_text(json.dumps(data))
    with pytest.raises(DataSourceError, match="pixel levels / 255"):
        bridge.prepare(tmp_path / "f", source=src, options={"num_clients": 2})
    for path in (src / "test").glob("*.json"):
        path.unlink()
    with pytest.raises(DataSourceError, match=r"no LEAF JSON files in .*test"):
        bridge.prepare(tmp_path / "f", source=src, options={"num_clients": 2})


def test_user_split_data_is_refused(tmp_path):
    """LEAF's -t user split puts some writers only in test: nobody could train on them."""
    src = write_femnist(tmp_path / "src", writers=4, shards=1)
    shard = next((src / "train").glob("*.json"))
    data = json.loads(shard.read_text())
    gone = data["users"].pop(0)
    data["num_samples"].pop(0)
    del data["user_data"][gone]
    shard.write_text(json.dumps(data))
    with pytest.raises(DataSourceError, match="-t sample"):
        bridge.prepare(tmp_path / "f", source=src, options={"num_clients": 2})


@needs_real
def test_real_sample_sizes(tmp_path):
    out = bridge.prepare(tmp_path / "femnist", source=FEMNIST, options={"num_clients": 5})
    manifest = verify_prepared(out)
    sizes = _sizes(out)
    assert len(sizes) == 5
    assert sum(t for t, _ in sizes.values()) == 14708 and sum(t for _, t in sizes.values()) == 1685
    assert manifest["provenance"]["users"] == 105 and len(manifest["provenance"]["shards_sha256"]) == 40
    assert sorted(len(g) for g in manifest["provenance"]["client_users"].values()) == [21] * 5
    y = np.concatenate([load_part(out / "train" / s)["y"] for s in sizes])
    assert y.min() == 0 and y.max() == 61


def test_metric_known_values_and_checks():
    y = np.array([0, 61, 5])
    scores = np.zeros((3, 62))
    scores[0, 0] = scores[1, 61] = scores[2, 4] = 1.0
    assert score(y, scores) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"shape \(n, 62\)"):
        score(y, scores[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        score(y, np.full((3, 62), math.nan))
    with pytest.raises(ValueError, match="2 rows, expected 3"):
        score(y, scores[:2])


def test_leaf_cnn_shape_and_size():
    from afr_box.tasks.femnist.surface.models import build_model

    model = build_model("leaf_cnn")
    assert sum(p.numel() for p in model.parameters()) == 6_603_710
    assert model(torch.randint(0, 256, (4, 784), dtype=torch.uint8)).shape == (4, 62)
    again = build_model("leaf_cnn")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


@needs_real
def test_short_campaign_on_real_femnist(sandbox, tmp_path):
    folder, rows = run_short_campaign("femnist", FEMNIST, tmp_path, rounds=1, local_steps=3, clients=3)
    assert [r.candidate for r in rows] == ["0000"]
    score = assert_scored_in_hardened_containers(folder, rows[0])
    assert score["convention"] == "pooled" and set(score["per_client"]) == {"site-1", "site-2", "site-3"}
    assert 0.0 <= score["score"] <= 1.0 and score["n_params"] == 6_603_710
