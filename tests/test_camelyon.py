"""Fed-Camelyon16 on a fixture in FLamby's feature layout: bridge (centers, split, bag order,
clear errors), ROC-AUC against scikit-learn, the gated-attention MIL baseline (size, FLamby's
zero padding) and the fixed one-bag-at-a-time predict step."""
from __future__ import annotations

import csv
import importlib.util
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from afr_box.tasks.camelyon import bridge, predict
from afr_box.tasks.shared.metrics.ranking import average_ranks, roc_auc
from prepared_arrays import load_part
from afr_box.tasks.shared.prepared import SiteData, verify_prepared
from afr_box.tasks.shared.layout import repo_file
from afr_box.tasks.shared.sources import DataSourceError
from fixtures.camelyon_format import SLIDES, write_camelyon_features
from task_metric import task_metric

score = task_metric("camelyon")


def _models():
    spec = importlib.util.spec_from_file_location("camelyon_models", repo_file("camelyon/models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write_camelyon_features(tmp_path_factory.mktemp("cam") / "features")


@pytest.fixture(scope="module")
def prepared(source, tmp_path_factory) -> Path:
    return bridge.prepare(tmp_path_factory.mktemp("p") / "camelyon", source=source)


def _expected(center: int, test: bool) -> set[str]:
    return {n for n, _, c in SLIDES if c == center and n.startswith("test") == test}


def test_centers_split_and_layout(prepared):
    manifest = verify_prepared(prepared)
    slides = manifest["provenance"]["slides"]
    for c in (0, 1):
        assert set(slides[f"center{c}_train"]) == _expected(c, False)
        assert set(slides[f"center{c}_test"]) == _expected(c, True)
    assert {k: (v["train"], v["test"]) for k, v in manifest["sites"].items()} == {"site-1": (4, 4), "site-2": (4, 3)}
    assert manifest["provenance"]["tables_are_flambys"] is False
    train = load_part(prepared / "train" / "site-1")
    assert set(train) == {"x", "x_offsets", "y"}
    assert train["x"].dtype == np.float32 and train["x"].shape[1] == 2048
    assert train["x_offsets"][0] == 0 and train["x_offsets"][-1] == len(train["x"])
    assert set(load_part(prepared / "test_inputs" / "site-2")) == {"x", "x_offsets"}
    labels = {n: l for n, l, _ in SLIDES}
    y = load_part(prepared / "test_labels" / "site-1")["y"]
    assert list(y) == [labels[n] for n in slides["center0_test"]]


def test_slide_order_and_tile_order_are_flambys(source, prepared):
    # FLamby: sorted(glob("*.npy")), random.seed(0), random.shuffle(list), then split by center/set
    files = sorted(source.glob("*.npy"))
    random.seed(0)
    random.shuffle(files)
    order = [f.name.split(".")[0] for f in files]
    slides = json.loads((prepared / "manifest.json").read_text())["provenance"]["slides"]
    assert slides["center1_train"] == [s for s in order if s in _expected(1, False)]
    # each bag: the slide's tiles in np.random.default_rng(42).permutation order (FLamby's collate)
    raw = np.load(source / f"{slides['center1_train'][0]}.tif.npy")
    train = SiteData(prepared / "train" / "site-2")
    assert np.array_equal(train.sample(0)["x"], raw[np.random.default_rng(42).permutation(len(raw))])


def test_max_tiles_keeps_the_first_permuted_tiles(source, tmp_path):
    out = bridge.prepare(tmp_path / "camelyon", source=source, options={"max_tiles": 7})
    train = load_part(out / "train" / "site-1")
    assert set(np.diff(train["x_offsets"])) == {7}


def test_metadata_subfolder_and_removed_slides(tmp_path):
    src = write_camelyon_features(tmp_path / "src", metadata_in_subfolder=True)
    np.save(src / "normal_086.tif.npy", np.ones((3, 2048), np.float32))   # removed from Camelyon16: skipped
    out = bridge.prepare(tmp_path / "camelyon", source=src)
    assert verify_prepared(out)["sites"]["site-1"] == {"train": 4, "test": 4}


def _rewrite(path: Path, edit) -> None:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    rows = edit(rows)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "tumor_071.tif.npy").unlink(), r"1 slide feature file\(s\) .* missing .*tumor_071\.tif\.npy"),
    (lambda d: (d / "labels.csv").unlink(), r"missing labels\.csv .*flamby/datasets/fed_camelyon16/labels\.csv"),
    (lambda d: (d / "metadata.csv").unlink(), r"missing metadata\.csv"),
    (lambda d: _rewrite(d / "metadata.csv", lambda rows: [r[:5] + r[6:] for r in rows]),
     r"metadata\.csv lacks column\(s\) \['hospital_corrected'\]"),
    (lambda d: np.save(d / "tumor_099.tif.npy", np.ones((3, 2048), np.float32)), r"not listed .*tumor_099"),
    (lambda d: np.save(d / "test_001.tif.npy", np.ones((3, 768), np.float32)),
     r"test_001\.tif\.npy: features of shape \(3, 768\)"),
    (lambda d: _rewrite(d / "labels.csv", lambda rows: [[r[0], "True"] if r[0] == "test_003.tif.npy" else r for r in rows]),
     r"test_003: labels\.csv says tumor=True but metadata\.csv label=0"),
    (lambda d: _rewrite(d / "metadata.csv", lambda rows: [r[:5] + ["1.0", r[6]] if r[6] == "tumor_001.tif" else r
                                                          for r in rows]),
     r"tumor_001: .* center 1 iff N > 70"),
])
def test_damaged_source_says_what_is_wrong(tmp_path, damage, message):
    src = write_camelyon_features(tmp_path / "src")
    damage(src)
    with pytest.raises(DataSourceError, match=message):
        bridge.prepare(tmp_path / "camelyon", source=src)
    assert not (tmp_path / "camelyon").exists()


def test_missing_folder_download_and_options(tmp_path, source):
    with pytest.raises(DataSourceError, match="does not exist"):
        bridge.prepare(tmp_path / "c", source=tmp_path / "nowhere")
    with pytest.raises(DataSourceError, match="tiling_slides.py"):
        bridge.prepare(tmp_path / "c", download=True)
    with pytest.raises(DataSourceError, match="--source"):
        bridge.prepare(tmp_path / "c")
    with pytest.raises(ValueError, match="unknown camelyon data option"):
        bridge.prepare(tmp_path / "c", source=source, options={"tiles": 5})
    with pytest.raises(ValueError, match="exactly 2 clients"):
        bridge.prepare(tmp_path / "c", source=source, options={"num_clients": 3})


# ---------------------------------------------------------------- metric


def test_auc_hand_computed():
    y = np.array([0, 0, 1, 1])
    assert score(y, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert score(y, np.array([[-3.0], [-1.0], [2.0], [5.0]])) == 1.0    # logits, (n, 1)
    assert score(y, np.array([1.0, 1.0, 1.0, 1.0])) == 0.5               # all tied
    assert list(average_ranks(np.array([3.0, 1.0, 3.0, 2.0]))) == [3.5, 1.0, 3.5, 2.0]


def test_auc_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for trial in range(40):
        n = int(rng.integers(4, 120))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        s = np.round(rng.normal(size=n), 1)          # ties included
        assert roc_auc(y, s) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12), trial


@pytest.mark.parametrize("y, pred, message", [
    (np.array([1, 1, 1]), np.array([0.1, 0.2, 0.3]), "both classes"),
    (np.array([0, 1]), np.array([0.1, np.nan]), "NaN"),
    (np.array([0, 1]), np.array([0.1]), "1 rows, expected 2"),
    (np.array([0, 2]), np.array([0.1, 0.2]), "0 or 1"),
    (np.array([0, 1]), np.zeros((2, 2)), "shape"),
])
def test_auc_rejects_malformed(y, pred, message):
    with pytest.raises(ValueError, match=message):
        score(y, pred)


# ---------------------------------------------------------------- model and predict


def test_baseline_is_flambys_deepmil_size():
    model = _models().build_model("deepmil")
    assert sum(p.numel() for p in model.parameters()) == 320_258
    assert model.pad_to == 10_000
    assert model(torch.rand(3, 5, 2048)).shape == (3,)


def test_virtual_padding_equals_flambys_zero_padding():
    models = _models()
    model = models.GatedAttentionMIL(pad_to=10_000).eval()
    bag = torch.rand(37, 2048)
    padded = torch.zeros(1, 10_000, 2048)                    # what FLamby's collate_fn feeds
    padded[0, :37] = bag
    with torch.no_grad():
        explicit = model(padded)
        virtual = model(bag.unsqueeze(0))
        # a bag zero-padded to a longer bag of its batch gives the same logit as alone
        in_batch = model(torch.nn.utils.rnn.pad_sequence([bag, torch.rand(80, 2048)], batch_first=True))
    assert torch.allclose(virtual, explicit, atol=1e-5)
    assert torch.allclose(in_batch[0], virtual[0], atol=1e-5)


def test_predict_feeds_one_bag_at_a_time(prepared):
    model = _models().build_model("deepmil").eval()
    site = SiteData(prepared / "test_inputs" / "site-1")
    pred = predict.predict(model, site)
    assert pred.shape == (4,) and pred.dtype == np.float32
    with torch.no_grad():
        second = model(torch.from_numpy(site.sample(1)["x"]).unsqueeze(0))
    assert pred[1] == pytest.approx(float(second[0]), abs=1e-6)
    with pytest.raises(ValueError, match="x_offsets"):
        predict.predict(model, SiteData(prepared / "test_inputs" / "site-1", names=["x"]))


def test_the_fixture_signal_is_learnable(prepared):
    """A few Adam steps of the baseline on both centers' training bags rank the test slides."""
    model = _models().build_model("deepmil")
    bags, ys = [], []
    for site in ("site-1", "site-2"):
        train = SiteData(prepared / "train" / site)
        bags += [torch.from_numpy(train.sample(i)["x"]) for i in range(len(train))]
        ys.append(torch.from_numpy(train.batch(np.arange(len(train)))["y"]))
    x, y = torch.nn.utils.rnn.pad_sequence(bags, batch_first=True), torch.cat(ys)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for site in ("site-1", "site-2"):
        pred = predict.predict(model, SiteData(prepared / "test_inputs" / site))
        assert score(load_part(prepared / "test_labels" / site)["y"], pred) == 1.0
