"""LEAF CelebA: the bridge on a format-exact LEAF fixture (JSON shards + JPEGs), the images
against LEAF's own loading code, clear layout errors, the metric, the LEAF CNN, and one short
campaign in hardened containers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from afr_box.tasks.celeba import bridge
from prepared_arrays import load_part
from afr_box.tasks.shared.prepared import verify_prepared
from afr_box.tasks.shared.sources import DataSourceError
from fixtures.celeba_format import write_celeba
from task_campaign import assert_scored_in_hardened_containers, run_short_campaign
from task_metric import task_metric

score = task_metric('celeba')

OPTS = {"num_clients": 2}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_celeba(tmp_path_factory.mktemp("leaf") / "data")


def _shards(src, split):
    data = {}
    for path in sorted((src / split).glob("*.json")):
        data.update(json.loads(path.read_text())["user_data"])
    return data


def test_prepares_images_labels_and_grouping(source, tmp_path):
    out = bridge.prepare(tmp_path / "celeba", source=source, options=OPTS)
    manifest = verify_prepared(out)
    groups = manifest["provenance"]["client_users"]
    celebs = sorted(_shards(source, "train"))
    assert groups == {"site-1": celebs[0::2], "site-2": celebs[1::2]}
    assert sorted(manifest["provenance"]["shards_sha256"]) == [
        "test/all_data_niid_05_keep_5_test_9.json", "train/all_data_niid_05_keep_5_train_9.json"]
    raw = _shards(source, "test")
    for site, users in groups.items():
        x = load_part(out / "test_inputs" / site)["x"]
        y = load_part(out / "test_labels" / site)["y"]
        assert x.dtype == np.uint8 and x.shape[1:] == (84, 84, 3) and y.dtype == np.int64
        assert y.tolist() == [int(v) for u in users for v in raw[u]["y"]]
        assert manifest["sites"][site]["test"] == len(y)
    assert set(load_part(out / "test_inputs" / "site-1")) == {"x"}


def test_images_equal_leafs_own_loading(source, tmp_path):
    """models/celeba/cnn.py: np.array(Image.open(f).resize((84, 84)).convert('RGB'))."""
    from PIL import Image

    out = bridge.prepare(tmp_path / "celeba", source=source, options={"num_clients": 1})
    first = sorted(_shards(source, "train"))[0]
    name = _shards(source, "train")[first]["x"][0]
    leaf = np.array(Image.open(source / "raw" / "img_align_celeba" / name).resize((84, 84)).convert("RGB"))
    np.testing.assert_array_equal(load_part(out / "train" / "site-1")["x"][0], leaf)


def test_preparation_is_deterministic(source, tmp_path):
    a = verify_prepared(bridge.prepare(tmp_path / "a" / "celeba", source=source, options=OPTS))
    b = verify_prepared(bridge.prepare(tmp_path / "b" / "celeba", source=source, options=OPTS))
    assert a["files"] == b["files"]


def test_layout_errors_say_what_is_missing(tmp_path):
    with pytest.raises(DataSourceError, match="no ready-made download.*preprocess.sh"):
        bridge.prepare(tmp_path / "c", download=True, options=OPTS)
    with pytest.raises(DataSourceError, match="does not exist"):
        bridge.prepare(tmp_path / "c", source=tmp_path / "nope", options=OPTS)
    with pytest.raises(ValueError, match="unknown celeba data option"):
        bridge.prepare(tmp_path / "c", source=tmp_path, options={**OPTS, "size": 64})
    src = write_celeba(tmp_path / "data", celebrities=3)
    images = src / "raw" / "img_align_celeba"
    images.rename(tmp_path / "elsewhere")
    with pytest.raises(DataSourceError, match=r"no image folder .*raw/img_align_celeba"):
        bridge.prepare(tmp_path / "c", source=src, options=OPTS)
    (tmp_path / "elsewhere").rename(images)
    victim = sorted(images.glob("*.jpg"))[-1]
    victim.unlink()
    with pytest.raises(DataSourceError, match=f"image {victim.name} named in the JSON is missing from"):
        bridge.prepare(tmp_path / "c", source=src, options=OPTS)


def test_bad_json_values_are_refused(tmp_path):
    src = write_celeba(tmp_path / "data", celebrities=2)
    shard = next((src / "train").glob("*.json"))
    original = shard.read_text()
    for field, value, message in (("x", "../secret.jpg", "image file names"), ("y", 2.0, "Smiling attribute as 0/1")):
        data = json.loads(original)
        data["user_data"][data["users"][0]][field][0] = value
        shard.write_text(json.dumps(data))
        with pytest.raises(DataSourceError, match=message):
            bridge.prepare(tmp_path / "c", source=src, options=OPTS)
    (src / "raw" / "img_align_celeba" / "000001.jpg").write_bytes(b"not a jpeg")
    shard.write_text(original)
    with pytest.raises(DataSourceError, match="cannot read image"):
        bridge.prepare(tmp_path / "c", source=src, options=OPTS)


def test_metric_known_values_and_checks():
    y = np.array([0, 1, 1, 0])
    scores = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.5, 0.5]])  # tie -> class 0
    assert score(y, scores) == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        score(y, scores[:, :1])
    with pytest.raises(ValueError, match="labels must lie in"):
        score(np.array([0, 1, 2, 0]), scores)


def test_leaf_cnn_shape_and_size():
    from afr_box.tasks.celeba.surface.models import build_model

    model = build_model("leaf_cnn")
    assert sum(p.numel() for p in model.parameters()) == 31_202
    assert not any(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in model.state_dict())
    assert model(torch.randint(0, 256, (3, 84, 84, 3), dtype=torch.uint8)).shape == (3, 2)


def test_short_campaign_on_the_fixture(sandbox, tmp_path):
    src = write_celeba(tmp_path / "leaf" / "data", celebrities=6)
    folder, rows = run_short_campaign("celeba", src, tmp_path, rounds=1, local_steps=2, clients=3)
    assert [r.candidate for r in rows] == ["0000"]
    score = assert_scored_in_hardened_containers(folder, rows[0])
    assert score["convention"] == "pooled" and set(score["per_client"]) == {"site-1", "site-2", "site-3"}
    assert 0.0 <= score["score"] <= 1.0 and score["n_params"] == 31_202
