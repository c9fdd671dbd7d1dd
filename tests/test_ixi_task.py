"""Fed-IXI bridge and metric on a fixture in FLamby's on-disk format (the real data is not here)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from afr_box.tasks.ixi import bridge
from afr_box.tasks.ixi.flamby_split import SPLIT
from prepared_arrays import load_part, site_of
from afr_box.tasks.shared.prepared import verify_prepared
from afr_box.tasks.shared.sources import DataSourceError
from fixtures.ixi_format import write_ixi_source
from task_metric import task_metric

score = task_metric('ixi')

SUBSET = {"subset": True}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write_ixi_source(tmp_path_factory.mktemp("ixi-src"), train=2, test=1)


@pytest.fixture(scope="module")
def prepared(source, tmp_path_factory) -> Path:
    return bridge.prepare(tmp_path_factory.mktemp("p") / "ixi", source=source, options=SUBSET)


def test_flamby_split_sizes_and_disjoint_ids():
    sizes = {c: (len(p["train"]), len(p["test"])) for c, p in SPLIT.items()}
    assert sizes == {"Guys": (249, 62), "HH": (145, 36), "IOP": (59, 15)}
    ids = [i for p in SPLIT.values() for part in p.values() for i in part]
    assert len(ids) == len(set(ids)) == 566


def test_layout_shapes_and_split(prepared):
    manifest = verify_prepared(prepared)
    assert manifest["task"] == "ixi"
    assert manifest["sites"] == {f"site-{i}": {"train": 2, "test": 1} for i in (1, 2, 3)}
    assert manifest["provenance"]["centers"] == ["Guys", "HH", "IOP"]
    for site in ("site-1", "site-2", "site-3"):
        train = load_part(prepared / "train" / site)
        assert train["x"].shape == (2, 1, 48, 60, 48) and train["x"].dtype == np.float32
        assert train["y"].shape == (2, 48, 60, 48) and train["y"].dtype == np.uint8
        assert set(np.unique(train["y"])) == {0, 1}
        assert set(load_part(prepared / "test_inputs" / site)) == {"x"}
        assert set(load_part(prepared / "test_labels" / site)) == {"y"}


def test_each_volume_is_z_scored(prepared):
    x = load_part(prepared / "train" / "site-2")["x"].astype(np.float64)
    for volume in x:
        assert abs(volume.mean()) < 1e-5 and abs(volume.std() - 1.0) < 1e-5


def test_area_resize_matches_torch_area_interpolation():
    torch = pytest.importorskip("torch")
    volume = np.random.default_rng(3).random((83, 44, 55))
    expected = torch.nn.functional.interpolate(torch.from_numpy(volume)[None, None], size=bridge.SHAPE, mode="area")
    assert np.allclose(bridge.area_resize(volume, bridge.SHAPE), expected[0, 0].numpy(), atol=1e-12)


def test_mask_voxel_is_brain_only_where_every_source_voxel_is():
    mask = np.zeros((96, 120, 96))
    mask[:48, :, :] = 1          # whole windows
    mask[49, 0, 0] = 1           # one voxel of a 2x2x2 window: truncated to background
    resized = bridge.preprocess_mask(mask, "m")
    assert resized[:24].all() and not resized[24:].any()
    with pytest.raises(DataSourceError, match="brain mask values"):
        bridge.preprocess_mask(mask * 2, "m")


def test_deterministic(prepared, source, tmp_path):
    again = bridge.prepare(tmp_path / "ixi", source=source, options=SUBSET)
    assert json.loads((again / "manifest.json").read_text())["files"] == json.loads((prepared / "manifest.json").read_text())["files"]


def test_accepts_the_sample_folder_itself(source, prepared, tmp_path):
    again = bridge.prepare(tmp_path / "ixi", source=source / "7kd5wj7v7p-3" / "IXI_sample", options=SUBSET)
    assert json.loads((again / "manifest.json").read_text())["files"] == json.loads((prepared / "manifest.json").read_text())["files"]


def test_incomplete_download_refused_without_subset(source, tmp_path):
    with pytest.raises(DataSourceError, match=r"Guys has 2 of FLamby's 249 train subjects"):
        bridge.prepare(tmp_path / "ixi", source=source)
    assert not (tmp_path / "ixi").exists()


def _copy(source: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "src"
    shutil.copytree(source, dest)
    return dest


def test_missing_folder_named(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        bridge.prepare(tmp_path / "ixi", source=tmp_path / "nowhere", options=SUBSET)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataSourceError, match="no 7kd5wj7v7p-3/IXI_sample/ folder"):
        bridge.prepare(tmp_path / "ixi", source=tmp_path / "empty", options=SUBSET)


def test_missing_label_file_named(source, tmp_path):
    src = _copy(source, tmp_path)
    subject = sorted((src / "7kd5wj7v7p-3" / "IXI_sample").iterdir())[0]
    next((subject / "label").glob("*.nii.gz")).unlink()
    with pytest.raises(DataSourceError, match=rf"{subject.name}/label holds 0 \.nii\.gz files"):
        bridge.prepare(tmp_path / "ixi", source=src, options=SUBSET)


def test_damaged_volume_and_unknown_patient_named(source, tmp_path):
    src = _copy(source, tmp_path)
    sample = src / "7kd5wj7v7p-3" / "IXI_sample"
    subject = sorted(sample.iterdir())[0]
    next((subject / "T1").glob("*.nii.gz")).write_bytes(b"not a volume")
    with pytest.raises(DataSourceError, match="is not a readable NIfTI volume"):
        bridge.prepare(tmp_path / "ixi", source=src, options=SUBSET)
    shutil.rmtree(subject)
    (sample / "IXI001-Guys-0001").mkdir()     # IXI001 is not in IXI Tiny
    with pytest.raises(DataSourceError, match="patient 1 is not in FLamby's IXI-Tiny split"):
        bridge.prepare(tmp_path / "ixi", source=src, options=SUBSET)


def test_options_checked(source, tmp_path):
    with pytest.raises(ValueError, match="exactly 3 clients"):
        bridge.prepare(tmp_path / "ixi", source=source, options={"num_clients": 4})
    with pytest.raises(ValueError, match="unknown ixi data option"):
        bridge.prepare(tmp_path / "ixi", source=source, options={"resize": 64})
    with pytest.raises(ValueError, match="expected true or false"):
        bridge.prepare(tmp_path / "ixi", source=source, options={"subset": "maybe"})
    assert bridge._options({"subset": "yes"})["subset"] and not bridge._options({"subset": "false"})["subset"]


def _vol(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(1, 1, 1, -1)


def test_dice_hand_computed():
    # brain: TP 1.5 / mean size 2 -> 0.75; background likewise 0.75
    assert score(_vol([1, 1, 0, 0]).astype(np.uint8), _vol([1, 0.5, 0.5, 0])) == pytest.approx(0.75, abs=1e-6)
    # brain 1 / 1.5; background 2 / 2.5
    assert score(_vol([1, 0, 0, 0]).astype(np.uint8), _vol([1, 1, 0, 0])) == pytest.approx((2 / 3 + 0.8) / 2, abs=1e-6)
    # an empty mask predicted empty counts 1 for both classes
    assert score(np.zeros((2, 2, 2, 2), np.uint8), np.zeros((2, 2, 2, 2))) == pytest.approx(1.0)


def test_dice_equals_flamby_formula_on_two_channels():
    rng = np.random.default_rng(0)
    y = (rng.random((3, 4, 5, 6)) > 0.6).astype(np.uint8)
    p = rng.random((3, 4, 5, 6))
    onehot, probs = np.stack([1 - y, y], axis=1), np.stack([1 - p, p], axis=1)
    inter = (probs * onehot).sum(axis=(2, 3, 4))
    union = (0.5 * (probs + onehot)).sum(axis=(2, 3, 4))
    assert score(y, p) == pytest.approx(float(np.mean(inter / (union + 1e-7))), rel=1e-12)


def test_dice_rejects_malformed_predictions():
    y = np.zeros((2, 2, 2, 2), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        score(y, np.zeros((2, 2, 2, 2, 2)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        score(y, np.full((2, 2, 2, 2), 1.5))
    with pytest.raises(ValueError, match="NaN"):
        score(y, np.full((2, 2, 2, 2), np.nan))


def test_predict_feeds_small_batches_and_keeps_the_brain_channel(tmp_path):
    torch = pytest.importorskip("torch")
    from afr_box.tasks.ixi import predict

    seen = []

    def model(x):
        seen.append(len(x))
        return torch.stack([torch.zeros_like(x[:, 0]), torch.ones_like(x[:, 0])], dim=1)

    out = predict.predict(model, site_of(tmp_path, x=np.zeros((5, 1, 4, 4, 4), np.float32)))
    assert out.shape == (5, 4, 4, 4) and np.all(out == 1.0) and max(seen) <= predict.BATCH
