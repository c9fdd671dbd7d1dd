"""Fed-Heart-Disease bridge on the real UCI files: FLamby's sizes, split, checks and layout."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from afr_box.tasks.heart import bridge
from prepared_arrays import load_part
from afr_box.tasks.shared.prepared import verify_prepared
from afr_box.tasks.shared.sources import DataSourceError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SRC = DATA / "flamby" / "fed_heart_disease"
pytestmark = pytest.mark.skipif(not SRC.is_dir(), reason=f"real data not available at {SRC}")

SIZES = {"site-1": (199, 104), "site-2": (172, 89), "site-3": (30, 16), "site-4": (85, 45)}
# sha256 prefix of the sorted test-row indices per center, from running FLamby's dataset.py
# code with scikit-learn 1.9.1 (train_test_split, random_state=43) on these files.
SKLEARN_TEST_ROWS = {"cleveland": "08c0b33f49ba9ad4", "hungarian": "d81ef5d37e718e4a",
                     "switzerland": "1505b4ca360a04d9", "va": "702a8cd163223373"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return bridge.prepare(tmp_path_factory.mktemp("p") / "heart", source=SRC)


def test_sizes_features_and_labels(prepared):
    manifest = verify_prepared(prepared)
    assert manifest["task"] == "heart"
    assert {k: (v["train"], v["test"]) for k, v in manifest["sites"].items()} == SIZES
    for site, (n_train, n_test) in SIZES.items():
        train = load_part(prepared / "train" / site)
        assert train["x"].shape == (n_train, 13) and train["x"].dtype == np.float32
        assert train["y"].shape == (n_train,) and train["y"].dtype == np.float32
        assert set(np.unique(train["y"])) <= {0.0, 1.0}
        assert load_part(prepared / "test_inputs" / site)["x"].shape == (n_test, 13)


def test_labels_kept_apart_from_inputs(prepared):
    for site in SIZES:
        assert set(load_part(prepared / "test_inputs" / site)) == {"x"}
        assert set(load_part(prepared / "test_labels" / site)) == {"y"}


def test_split_matches_sklearn_as_flamby_calls_it():
    for (name, _), expected in zip(bridge.FILES, SKLEARN_TEST_ROWS.values()):
        disease = (bridge._read_center(SRC / name)[:, -1] > 0).astype(np.float32)
        rows = ",".join(str(int(i)) for i in bridge.test_rows(disease))
        assert hashlib.sha256(rows.encode()).hexdigest()[:16] == expected, name


def test_per_center_normalisation_on_train_rows(prepared):
    x = load_part(prepared / "train" / "site-1")["x"].astype(np.float64)
    assert np.allclose(x.mean(axis=0), 0.0, atol=1e-5)
    assert np.allclose(x.std(axis=0, ddof=1), 1.0, atol=1e-5)


def test_deterministic(prepared, tmp_path):
    again = bridge.prepare(tmp_path / "heart", source=SRC)
    assert json.loads((again / "manifest.json").read_text()) == json.loads((prepared / "manifest.json").read_text())


def _copy_source(tmp_path: Path) -> Path:
    dest = tmp_path / "src"
    shutil.copytree(SRC, dest)
    return dest


def test_md5_mismatch_names_the_file(tmp_path):
    src = _copy_source(tmp_path)
    with open(src / "processed.hungarian.data", "a") as f:
        f.write("40,1,2,120,200,0,0,150,0,0,?,?,?,0\n")
    with pytest.raises(DataSourceError, match=r"processed\.hungarian\.data.*22e96bee155b5973568101c93b3705f6"):
        bridge.prepare(tmp_path / "heart", source=src)
    assert not (tmp_path / "heart").exists()


def test_missing_file_names_the_file(tmp_path):
    src = _copy_source(tmp_path)
    (src / "processed.va.data").unlink()
    with pytest.raises(DataSourceError, match=r"processed\.va\.data"):
        bridge.prepare(tmp_path / "heart", source=src)


def test_missing_folder_and_bad_arguments(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        bridge.prepare(tmp_path / "heart", source=tmp_path / "nowhere")
    with pytest.raises(DataSourceError, match="--source"):
        bridge.prepare(tmp_path / "heart")
    with pytest.raises(ValueError, match="unknown heart data option"):
        bridge.prepare(tmp_path / "heart", source=SRC, options={"shuffle": True})


def test_download_path_with_a_local_url(prepared, tmp_path, monkeypatch):
    # file:// stands in for the UCI host: same download code, same md5 checks.
    monkeypatch.setattr(bridge, "UCI_URL", SRC.as_uri() + "/")
    fetched = bridge.prepare(tmp_path / "heart", download=True)
    assert json.loads((fetched / "manifest.json").read_text()) == json.loads((prepared / "manifest.json").read_text())
    monkeypatch.setattr(bridge, "UCI_URL", (tmp_path / "nowhere").as_uri() + "/")
    with pytest.raises(DataSourceError, match=r"could not download processed\.cleveland\.data"):
        bridge.prepare(tmp_path / "heart2", download=True)
