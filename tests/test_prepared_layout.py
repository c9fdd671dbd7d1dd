"""The prepared-data layout: one .npy per array and site, read lazily; named and ragged inputs,
kept dtypes, assets, streaming writes, identity and full checks, held-out views as index files."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from afr_box.tasks.shared.prepared import (DataNotPreparedError, PreparedWriter, SiteData, SiteSplit, check_present,
                                           heldout_view, read_manifest, verify_full, verify_identity, write_prepared)


def _bags(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 5, n)
    return {"x": rng.normal(size=(int(lengths.sum()), 3)),
            "x_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)}


def _bag(bags: dict, i: int) -> np.ndarray:
    return bags["x"][bags["x_offsets"][i]:bags["x_offsets"][i + 1]]


def test_ragged_samples_are_read_whole_and_in_the_order_asked(tmp_path):
    bags = _bags(6, 0)
    folder = write_prepared(tmp_path / "t", "t", [SiteSplit(bags, np.arange(6), bags, np.arange(6))], {})
    site = SiteData(folder / "train" / "site-1")
    assert len(site) == 6 and site.names == ("x", "y") and site.is_ragged("x")
    picked = site.batch(np.array([4, 1]))
    assert picked["y"].tolist() == [4, 1]
    np.testing.assert_array_equal(picked["x"][0], _bag(bags, 4).astype(np.float32))
    np.testing.assert_array_equal(site.sample(1)["x"], _bag(bags, 1).astype(np.float32))


def test_arrays_are_memory_mapped_and_batches_are_writable_copies(tmp_path):
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    folder = write_prepared(tmp_path / "t", "t", [SiteSplit(x, np.arange(10), x, np.arange(10))], {})
    site = SiteData(folder / "train" / "site-1")
    assert all(isinstance(a, np.memmap) for a in site._arrays.values())  # nothing read until asked for
    batch = site.batch([7, 2])
    assert not isinstance(batch["x"], np.memmap) and batch["x"].flags.writeable
    np.testing.assert_array_equal(batch["x"], x[[7, 2]])
    assert [len(b["y"]) for b in site.batches(4)] == [4, 4, 2]


def test_disagreeing_inputs_are_refused(tmp_path):
    site = SiteSplit({"x": np.zeros((3, 2)), "mask": np.zeros(4)}, np.zeros(3), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="disagree"):
        write_prepared(tmp_path / "t", "t", [site], {})


def test_write_keeps_integer_dtypes_labels_and_assets(tmp_path):
    weights = tmp_path / "w.npz"
    np.savez(weights, a=np.ones(3))
    tokens = np.arange(20, dtype=np.int64).reshape(5, 4)
    images = np.full((2, 4, 4, 3), 255, dtype=np.uint8)
    site = SiteSplit({"x": tokens}, np.arange(5, dtype=np.float64), images, np.array([0, 1]))
    folder = write_prepared(tmp_path / "t", "t", [site], {}, assets={"w.npz": weights})
    verify_full(folder)
    assert np.load(folder / "train" / "site-1" / "x.npy").dtype == np.int64
    assert np.load(folder / "train" / "site-1" / "y.npy").dtype == np.float64  # labels as the bridge made them
    assert np.load(folder / "test_inputs" / "site-1" / "x.npy").dtype == np.uint8
    assert sorted(p.name for p in (folder / "test_labels" / "site-1").iterdir()) == ["y.npy"]
    assert (folder / "train" / "assets" / "w.npz").read_bytes() == weights.read_bytes()


def test_write_refuses_labels_that_do_not_match_inputs(tmp_path):
    site = SiteSplit(np.zeros((3, 2)), np.zeros(4), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="site-1 train: 3 input samples but 4 labels"):
        write_prepared(tmp_path / "t", "t", [site], {})


def test_streamed_chunks_make_one_standard_npy(tmp_path):
    """Rows appended chunk by chunk end up as one .npy that numpy reads as if saved at once."""
    writer = PreparedWriter(tmp_path / "t", "t")
    rng = np.random.default_rng(0)
    chunks = [rng.integers(0, 255, (n, 5), dtype=np.uint8) for n in (3, 0, 1000, 7)]
    part = writer.part(0, "train")
    for c in chunks:
        part.append(x=c, y=np.arange(len(c)))
    writer.close_part(0, "train", part)
    test = writer.part(0, "test")
    test.append(x=chunks[0], y=np.arange(3))
    writer.close_part(0, "test", test)
    folder = writer.commit({})
    np.testing.assert_array_equal(np.load(folder / "train" / "site-1" / "x.npy"), np.concatenate(chunks))
    assert read_manifest(folder)["sites"] == {"site-1": {"train": 1010, "test": 3}}


def test_an_interrupted_prepare_leaves_nothing_that_verifies_and_a_rerun_finishes(tmp_path):
    writer = PreparedWriter(tmp_path / "t", "t")
    part = writer.part(0, "train")
    part.append(x=np.zeros((2, 2)), y=np.zeros(2))  # ... and the process dies here
    with pytest.raises(DataNotPreparedError):
        verify_full(tmp_path / "t")
    with pytest.raises(DataNotPreparedError):
        verify_full(tmp_path / "t.partial")
    site = SiteSplit(np.zeros((2, 2)), np.zeros(2), np.zeros((1, 2)), np.zeros(1))
    verify_full(write_prepared(tmp_path / "t", "t", [site], {}))
    assert not (tmp_path / "t.partial").exists()


def test_an_npz_folder_of_the_old_layout_is_refused_with_what_to_do(tmp_path):
    old = tmp_path / "heart"
    (old / "train").mkdir(parents=True)
    np.savez(old / "train" / "site-1.npz", x=np.zeros((2, 2)), y=np.zeros(2))
    (old / "manifest.json").write_text(json.dumps({"task": "heart", "sites": {}, "files": {}}))
    for check in (verify_full, check_present, read_manifest):
        with pytest.raises(DataNotPreparedError, match="older layout.*prepare it again: `afr-box data prepare heart"):
            check(old)
    with pytest.raises(DataNotPreparedError, match="older layout"):
        SiteData(old / "train" / "site-1")


def _folder(tmp_path):
    x = np.arange(400, dtype=np.float32).reshape(100, 4)
    return write_prepared(tmp_path / "t", "t", [SiteSplit(x, np.arange(100), x, np.arange(100))], {})


def test_identity_catches_a_changed_file_even_with_its_mtime_set_back(tmp_path):
    folder = _folder(tmp_path)
    reference = verify_full(folder).identity
    assert verify_identity(folder, reference).kind == "identity"
    target = folder / "train" / "site-1" / "x.npy"
    before = os.stat(target)
    os.chmod(target, 0o644)
    with open(target, "r+b") as f:  # same size, one byte flipped, mtime restored: only ctime tells
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(target).st_mtime_ns == before.st_mtime_ns and os.stat(target).st_size == before.st_size
    with pytest.raises(DataNotPreparedError, match=r"identity at the last full check \(changed: \['train/site-1/x.npy'\]"):
        verify_identity(folder, reference)
    with pytest.raises(DataNotPreparedError, match=r"changed: \['train/site-1/x.npy'\]"):
        verify_full(folder)


def test_identity_catches_added_and_removed_files(tmp_path):
    folder = _folder(tmp_path)
    reference = verify_full(folder).identity
    (folder / "train" / "site-1" / "extra.npy").write_bytes(b"")
    with pytest.raises(DataNotPreparedError, match="extra.npy"):
        verify_identity(folder, reference)
    os.unlink(folder / "train" / "site-1" / "extra.npy")
    os.unlink(folder / "test_labels" / "site-1" / "y.npy")
    with pytest.raises(DataNotPreparedError, match="test_labels/site-1/y.npy"):
        verify_identity(folder, reference)


def test_heldout_view_is_index_files_applied_to_the_prepared_samples(tmp_path):
    test = _bags(10, 1)
    site = SiteSplit(_bags(4, 2), np.zeros(4), test, np.arange(10))
    folder = write_prepared(tmp_path / "t", "t", [site], {})
    view = heldout_view(folder, 0.3)
    assert sorted(p.relative_to(view).as_posix() for p in view.rglob("*.npy")) == \
        ["heldout/site-1.npy", "validation/site-1.npy"]  # row ids only: no input or label copied
    val, held = (np.load(view / part / "site-1.npy") for part in ("validation", "heldout"))
    assert len(val) == 7 and len(held) == 3 and not set(val) & set(held)
    for rows in (val, held):
        inputs = SiteData(folder / "test_inputs" / "site-1", rows)
        labels = SiteData(folder / "test_labels" / "site-1", rows).batch(np.arange(len(rows)))["y"]
        assert len(inputs) == len(rows) and labels.tolist() == rows.tolist()
        for i, label in enumerate(labels):  # each label still sits with its own bag
            np.testing.assert_array_equal(inputs.sample(i)["x"], _bag(test, int(label)).astype(np.float32))
