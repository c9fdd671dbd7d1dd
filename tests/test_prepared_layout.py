"""The prepared-data layout: named and ragged inputs, kept dtypes, assets, held-out views."""
from __future__ import annotations

import numpy as np
import pytest

from afr_box.tasks.shared.prepared import (SiteSplit, heldout_view, load_npz, num_samples, sample, take_samples,
                                    verify_prepared, write_prepared)


def _bags(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 5, n)
    return {"x": rng.normal(size=(int(lengths.sum()), 3)),
            "x_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)}


def test_ragged_samples_are_taken_whole():
    bags = _bags(6, 0)
    assert num_samples(bags) == 6
    picked = take_samples(bags, np.array([4, 1]))
    assert num_samples(picked) == 2
    np.testing.assert_array_equal(sample(picked, "x", 0), sample(bags, "x", 4))
    np.testing.assert_array_equal(sample(picked, "x", 1), sample(bags, "x", 1))


def test_disagreeing_inputs_are_refused():
    with pytest.raises(ValueError, match="disagree"):
        num_samples({"x": np.zeros((3, 2)), "mask": np.zeros(4)})


def test_write_keeps_integer_dtypes_and_assets(tmp_path):
    weights = tmp_path / "w.npz"
    np.savez(weights, a=np.ones(3))
    tokens = np.arange(20, dtype=np.int64).reshape(5, 4)
    images = np.full((2, 4, 4, 3), 255, dtype=np.uint8)
    site = SiteSplit({"x": tokens}, np.arange(5), images, np.array([0, 1]))
    folder = write_prepared(tmp_path / "t", "t", [site], {}, assets={"w.npz": weights})
    verify_prepared(folder)
    assert load_npz(folder / "train" / "site-1.npz")["x"].dtype == np.int64
    assert load_npz(folder / "test_inputs" / "site-1.npz")["x"].dtype == np.uint8
    assert (folder / "train" / "assets" / "w.npz").read_bytes() == weights.read_bytes()


def test_write_refuses_labels_that_do_not_match_inputs(tmp_path):
    site = SiteSplit(np.zeros((3, 2)), np.zeros(4), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="site-1 train: 3 input samples but 4 labels"):
        write_prepared(tmp_path / "t", "t", [site], {})


def test_heldout_view_splits_bags_by_sample(tmp_path):
    test = _bags(10, 1)
    site = SiteSplit(_bags(4, 2), np.zeros(4), test, np.arange(10))
    folder = write_prepared(tmp_path / "t", "t", [site], {})
    view = heldout_view(folder, 0.3)
    val, held = load_npz(view / "test_inputs" / "site-1.npz"), load_npz(view / "heldout_inputs" / "site-1.npz")
    val_y, held_y = load_npz(view / "test_labels" / "site-1.npz")["y"], load_npz(view / "heldout_labels" / "site-1.npz")["y"]
    assert num_samples(val) == len(val_y) == 7 and num_samples(held) == len(held_y) == 3
    for arrays, labels in ((val, val_y), (held, held_y)):
        for i, label in enumerate(labels):  # each label still sits with its own bag
            np.testing.assert_array_equal(sample(arrays, "x", i), sample(test, "x", int(label)).astype(np.float32))
