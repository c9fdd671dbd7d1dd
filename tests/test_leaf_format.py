"""LEAF's JSON format: reading the real FEMNIST sample, grouping users, clear layout errors."""
from __future__ import annotations

import json

import pytest

from afr_box.tasks.shared.formats.leaf import client_samples, group_users, read_leaf
from afr_box.tasks.shared.sources import DataSourceError
from conftest import SHARED_DATA

FEMNIST = SHARED_DATA / "leaf" / "femnist"


def _write(folder, split, name, users):
    (folder / split).mkdir(parents=True, exist_ok=True)
    data = {"users": list(users), "num_samples": [len(v[1]) for v in users.values()],
            "user_data": {u: {"x": x, "y": y} for u, (x, y) in users.items()}}
    (folder / split / name).write_text(json.dumps(data))


def test_reads_the_real_femnist_sample():
    if not FEMNIST.is_dir():
        pytest.skip("no FEMNIST sample")
    train, test, digests = read_leaf(FEMNIST, "femnist")
    assert len(train.users()) == 105 and len(digests) == 40
    assert sum(len(v) for v in train.y.values()) == 14708 and sum(len(v) for v in test.y.values()) == 1685
    assert len(next(iter(train.x.values()))[0]) == 784


def test_grouping_is_deterministic_and_covers_every_user():
    users = [f"u{i:03d}" for i in range(10)][::-1]
    groups = group_users(users, 3)
    assert groups == group_users(sorted(users), 3)
    assert sorted(u for g in groups for u in g) == sorted(users)
    assert groups[0] == ["u000", "u003", "u006", "u009"]
    with pytest.raises(DataSourceError, match="cannot group 10 LEAF users into 11 clients"):
        group_users(users, 11)


def test_client_samples_concatenate_in_user_order(tmp_path):
    _write(tmp_path, "train", "a.json", {"b": ([[2]], [1]), "a": ([[0], [1]], [0, 0])})
    _write(tmp_path, "test", "a.json", {"a": ([[5]], [0])})
    train, test, _ = read_leaf(tmp_path, "toy")
    assert client_samples(train, ["a", "b"]) == ([[0], [1], [2]], [0, 0, 1])
    assert client_samples(test, ["b"]) == ([], [])


def test_layout_errors_name_what_to_fix(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        read_leaf(tmp_path / "nope", "toy")
    _write(tmp_path, "train", "a.json", {"a": ([[0]], [0])})
    with pytest.raises(DataSourceError, match=r"no LEAF JSON files in .*test"):
        read_leaf(tmp_path, "toy")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "bad.json").write_text('{"users": ["a"], "num_samples": [2], "user_data": {"a": {"x": [1], "y": [1]}}}')
    with pytest.raises(DataSourceError, match="user 'a' has 1 x, 1 y, num_samples 2"):
        read_leaf(tmp_path, "toy")


def test_num_samples_check_can_be_waived_but_x_and_y_must_agree(tmp_path):
    # LEAF's Shakespeare test files and Reddit files record counts that differ from their samples
    _write(tmp_path, "train", "a.json", {"a": ([[0]], [0])})
    (tmp_path / "test").mkdir()
    shard = tmp_path / "test" / "a.json"
    shard.write_text('{"users": ["a"], "num_samples": [80], "user_data": {"a": {"x": [[1]], "y": [1]}}}')
    with pytest.raises(DataSourceError, match="num_samples 80"):
        read_leaf(tmp_path, "toy")
    _, test, _ = read_leaf(tmp_path, "toy", check_num_samples=False)
    assert test.y == {"a": [1]}
    shard.write_text('{"users": ["a"], "num_samples": [80], "user_data": {"a": {"x": [[1], [2]], "y": [1]}}}')
    with pytest.raises(DataSourceError, match="user 'a' has 2 x, 1 y"):
        read_leaf(tmp_path, "toy", check_num_samples=False)
