"""Fed-TCGA-BRCA: bridge on the real FLamby files (sizes, split, checks), the C-index against
lifelines (as FLamby computes it), and the baseline model's size."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from prepared_arrays import load_part
from afr_box.tasks.shared.prepared import verify_prepared
from afr_box.tasks.shared.layout import repo_file
from afr_box.tasks.shared.sources import DataSourceError
from afr_box.tasks.tcga import bridge
from afr_box.tasks.shared.metrics.survival import concordance_index
from task_metric import task_metric

score = task_metric("tcga")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SRC = DATA / "flamby" / "fed_tcga_brca"
needs_data = pytest.mark.skipif(not SRC.is_dir(), reason=f"real data not available at {SRC}")

SIZES = {"site-1": (248, 63), "site-2": (156, 40), "site-3": (164, 42),
         "site-4": (129, 33), "site-5": (129, 33), "site-6": (40, 11)}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    if not SRC.is_dir():
        pytest.skip(f"real data not available at {SRC}")
    return bridge.prepare(tmp_path_factory.mktemp("p") / "tcga", source=SRC)


@needs_data
def test_sizes_features_and_labels(prepared):
    manifest = verify_prepared(prepared)
    assert manifest["task"] == "tcga"
    assert {k: (v["train"], v["test"]) for k, v in manifest["sites"].items()} == SIZES
    assert len(manifest["provenance"]["features"]) == 39
    for site, (n_train, n_test) in SIZES.items():
        train = load_part(prepared / "train" / site)
        assert train["x"].shape == (n_train, 39) and train["x"].dtype == np.float32
        assert train["y"].shape == (n_train, 2) and train["y"].dtype == np.float32
        assert set(np.unique(train["y"][:, 0])) <= {0.0, 1.0} and (train["y"][:, 1] >= 0).all()
        assert set(load_part(prepared / "test_inputs" / site)) == {"x"}
        assert load_part(prepared / "test_labels" / site)["y"].shape == (n_test, 2)


@needs_data
def test_split_is_flambys_fold2_in_brca_order(prepared):
    """Each site holds exactly the pids of its fold2 group, rows in brca.csv order, raw values."""
    with open(SRC / "brca.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    with open(SRC / "train_test_split.csv", newline="") as f:
        fold2 = {r["pid"]: r["fold2"] for r in csv.DictReader(f)}
    for c, site in enumerate(SIZES):
        expected = [r for r in rows if fold2.get(r[0]) == f"test_{c}"]
        x = load_part(prepared / "test_inputs" / site)["x"]
        y = load_part(prepared / "test_labels" / site)["y"]
        assert np.array_equal(x, np.array([r[1:40] for r in expected], dtype=np.float32))
        assert np.array_equal(y, np.array([r[40:42] for r in expected], dtype=np.float32))
    # features are not normalised (FLamby feeds brca.csv as is): age stays in years
    assert load_part(prepared / "train" / "site-1")["x"][:, 0].max() > 50


@needs_data
def test_deterministic(prepared, tmp_path):
    again = bridge.prepare(tmp_path / "tcga", source=SRC)
    assert json.loads((again / "manifest.json").read_text()) == json.loads((prepared / "manifest.json").read_text())


@needs_data
@pytest.mark.parametrize("name", [name for name, _, _ in bridge.FILES])
def test_missing_or_changed_file_is_named(tmp_path, name):
    src = tmp_path / "src"
    shutil.copytree(SRC, src)
    with open(src / name, "a") as f:
        f.write("x\n")
    md5 = dict((n, m) for n, m, _ in bridge.FILES)[name]
    with pytest.raises(DataSourceError, match=rf"{name}.*{md5}"):
        bridge.prepare(tmp_path / "tcga", source=src)
    (src / name).unlink()
    with pytest.raises(DataSourceError, match=rf"missing data file {name}"):
        bridge.prepare(tmp_path / "tcga", source=src)
    assert not (tmp_path / "tcga").exists()


def test_missing_folder_and_bad_arguments(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        bridge.prepare(tmp_path / "tcga", source=tmp_path / "nowhere")
    with pytest.raises(DataSourceError, match="--source"):
        bridge.prepare(tmp_path / "tcga")
    with pytest.raises(ValueError, match="unknown tcga data option"):
        bridge.prepare(tmp_path / "tcga", source=SRC, options={"normalize": True})
    with pytest.raises(ValueError, match="exactly 6 clients"):
        bridge.prepare(tmp_path / "tcga", source=SRC, options={"num_clients": 4})


@needs_data
def test_download_path_with_a_local_url(prepared, tmp_path, monkeypatch):
    # A file:// tree laid out as FLamby's repository stands in for GitHub: same download code and md5 checks.
    repo = tmp_path / "repo"
    for name, _, repo_path in bridge.FILES:
        (repo / repo_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SRC / name, repo / repo_path)
    monkeypatch.setattr(bridge, "FLAMBY_RAW_URL", repo.as_uri() + "/")
    fetched = bridge.prepare(tmp_path / "tcga", download=True)
    assert json.loads((fetched / "manifest.json").read_text()) == json.loads((prepared / "manifest.json").read_text())


# ---------------------------------------------------------------- metric


def test_c_index_hand_computed():
    # times 1..4, all events; risk ranks them perfectly, then reversed, then all tied.
    y = np.array([[1, 1], [1, 2], [1, 3], [1, 4]], dtype=np.float32)
    assert score(y, np.array([4.0, 3.0, 2.0, 1.0])) == 1.0     # higher risk = earlier event
    assert score(y, np.array([1.0, 2.0, 3.0, 4.0])) == 0.0
    assert score(y, np.zeros((4, 1))) == 0.5
    # censored at t=2 (j) vs event at t=2 (i): comparable (j outlived i); two censored: never.
    y = np.array([[1, 2], [0, 2], [0, 5]], dtype=np.float32)
    # pairs: (0,1) and (0,2); risk 0 > risk 1 concordant, risk 0 < risk 2 discordant
    assert score(y, np.array([1.0, 0.0, 2.0])) == 0.5


def test_c_index_matches_lifelines_as_flamby_calls_it():
    lifelines = pytest.importorskip("lifelines.utils")
    rng = np.random.default_rng(0)
    for trial in range(30):
        n = int(rng.integers(5, 80))
        time = rng.integers(1, 15, size=n).astype(np.float64)      # many tied times
        event = (rng.random(n) < 0.4).astype(np.float64)
        event[0] = 1
        risk = np.round(rng.normal(size=n), 1)                       # some tied risks
        y = np.column_stack([event, time]).astype(np.float32)
        # FLamby: lifelines.utils.concordance_index(y_true[:, 1], -pred, y_true[:, 0])
        expected = lifelines.concordance_index(y[:, 1], -risk, y[:, 0])
        assert score(y, risk) == pytest.approx(expected, abs=1e-12), trial


@pytest.mark.parametrize("y, pred, message", [
    (np.array([[1, 1], [0, 2]]), np.array([0.1, np.nan]), "NaN"),
    (np.array([[1, 1], [0, 2]]), np.array([0.1, 0.2, 0.3]), "3 rows, expected 2"),
    (np.array([[1, 1], [0, 2]]), np.zeros((2, 2)), "shape"),
    (np.array([1, 0]), np.array([0.1, 0.2]), r"\(n, 2\)"),
    (np.array([[2, 1], [0, 2]]), np.array([0.1, 0.2]), "event column"),
    (np.array([[0, 1], [0, 2]]), np.array([0.1, 0.2]), "no comparable pair"),
])
def test_c_index_rejects_malformed(y, pred, message):
    with pytest.raises(ValueError, match=message):
        score(y, pred)


def test_concordance_is_order_free():
    rng = np.random.default_rng(1)
    t, r, e = rng.integers(1, 9, 40), rng.normal(size=40), rng.integers(0, 2, 40)
    p = rng.permutation(40)
    assert concordance_index(t, r, e) == concordance_index(t[p], r[p], e[p])


def test_baseline_model_is_flambys_linear_cox():
    torch = pytest.importorskip("torch")
    import importlib.util
    spec = importlib.util.spec_from_file_location("tcga_models", repo_file("tcga/models.py"))
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    model = models.build_model("cox_linear")
    assert sum(p.numel() for p in model.parameters()) == 40
    assert model(torch.zeros(3, 39)).shape == (3,)
