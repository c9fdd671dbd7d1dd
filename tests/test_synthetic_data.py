"""LEAF Synthetic bridge: deterministic generation, shapes, grouping and heterogeneity."""
from __future__ import annotations

import json

import numpy as np
import pytest

from afr_box.profiles.schema import load_profile
from prepared_arrays import load_part
from afr_box.tasks.shared.prepared import verify_prepared
from afr_box.tasks.shared.sources import DataSourceError
from afr_box.tasks.synthetic import bridge


@pytest.fixture(scope="module")
def options() -> dict:
    profile = load_profile("synthetic")
    return {**profile.data.options, "num_clients": profile.budget.clients}


def _arrays(sites):
    return [a for s in sites for a in (s.x_train, s.y_train, s.x_test, s.y_test)]


def test_deterministic_for_a_seed(options, tmp_path):
    a = bridge.prepare(tmp_path / "a", options=options)
    b = bridge.prepare(tmp_path / "b", options=options)
    assert json.loads((a / "manifest.json").read_text()) == json.loads((b / "manifest.json").read_text())
    verify_prepared(a)


def test_other_seed_differs(options):
    one = bridge.build_sites(bridge._options(options))
    two = bridge.build_sites(bridge._options({**options, "seed": options["seed"] + 1}))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(_arrays(one), _arrays(two)))


def test_shapes_classes_and_clients(options, tmp_path):
    folder = bridge.prepare(tmp_path / "s", options=options)
    manifest = verify_prepared(folder)
    assert sorted(manifest["sites"]) == ["site-1", "site-2", "site-3", "site-4"]
    labels = []
    for site in manifest["sites"]:
        train = load_part(folder / "train" / site)
        assert train["x"].shape[1] == 60 and train["x"].dtype == np.float32
        assert train["y"].dtype == np.int64
        assert set(load_part(folder / "test_inputs" / site)) == {"x"}
        assert load_part(folder / "test_labels" / site)["y"].dtype == np.int64
        labels.append(train["y"])
    assert set(np.unique(np.concatenate(labels))) == set(range(5))


def test_grouping_keeps_all_users(options):
    four = bridge.build_sites(bridge._options(options))
    three = bridge.build_sites(bridge._options({**options, "num_clients": 3}))
    assert len(three) == 3
    assert sum(len(s.y_train) + len(s.y_test) for s in four) == sum(len(s.y_train) + len(s.y_test) for s in three)
    assert all(300 <= len(s.y_train) for s in four)      # 10 users x >= 50 samples, 80% train


def test_clients_are_heterogeneous(options):
    sites = bridge.build_sites(bridge._options(options))
    dist = [np.bincount(s.y_train, minlength=5) / len(s.y_train) for s in sites]
    total_variation = max(0.5 * np.abs(p - q).sum() for p in dist for q in dist)
    assert total_variation > 0.2


def test_rejects_source_download_and_bad_options(options, tmp_path):
    with pytest.raises(DataSourceError):
        bridge.prepare(tmp_path / "x", source=tmp_path, options=options)
    with pytest.raises(DataSourceError):
        bridge.prepare(tmp_path / "x", download=True, options=options)
    with pytest.raises(ValueError, match="num_clients"):
        bridge.prepare(tmp_path / "x", options={k: v for k, v in options.items() if k != "num_clients"})
    with pytest.raises(ValueError, match="unknown synthetic data option"):
        bridge.prepare(tmp_path / "x", options={**options, "gamma": 1})
