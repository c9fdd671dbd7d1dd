"""Fed-ISIC2019 bridge, pretrained weights, model and metric on a fixture in FLamby's format."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from afr_box.tasks.isic import bridge, pretrained
from prepared_arrays import load_part, site_of
from afr_box.tasks.shared.prepared import verify_prepared
from afr_box.tasks.shared.sources import DataSourceError
from fixtures.isic_format import write_isic_source
from task_metric import task_metric

score = task_metric('isic')

SUBSET = {"subset": True}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write_isic_source(tmp_path_factory.mktemp("isic-src"), train=2, test=1)


@pytest.fixture(scope="module")
def prepared(source, tmp_path_factory) -> Path:
    return bridge.prepare(tmp_path_factory.mktemp("p") / "isic", source=source, options=SUBSET)


def test_layout_dtypes_and_split(prepared, source):
    manifest = verify_prepared(prepared)
    assert manifest["task"] == "isic"
    assert manifest["sites"] == {f"site-{i}": {"train": 2, "test": 1} for i in range(1, 7)}
    with open(source / "train_test_split") as f:
        rows = list(csv.DictReader(f))
    for k in range(6):
        site = f"site-{k + 1}"
        train = load_part(prepared / "train" / site)
        assert train["x"].shape == (2, 3, 224, 224) and train["x"].dtype == np.uint8
        expected = [int(r["target"]) for r in rows if r["fold2"] == f"train_{k}"]
        assert train["y"].tolist() == expected and train["y"].dtype == np.int64
        test_x = load_part(prepared / "test_inputs" / site)
        assert set(test_x) == {"x"} and test_x["x"].shape == (1, 3, 200, 200)
        assert load_part(prepared / "test_labels" / site)["y"].tolist() == \
            [int(r["target"]) for r in rows if r["fold2"] == f"test_{k}"]
    assert not (prepared / "train" / "assets").exists()


def test_centre_crops_match_the_jpeg(prepared, source):
    from PIL import Image

    first_test = [r for r in csv.DictReader(open(source / "train_test_split")) if r["fold"] == "test"][0]
    with Image.open(source / bridge.IMAGES / f"{first_test['image']}.jpg") as img:
        pixels = np.asarray(img.convert("RGB"))
    h, w = pixels.shape[:2]
    crop = pixels[(h - 200) // 2:(h - 200) // 2 + 200, (w - 200) // 2:(w - 200) // 2 + 200].transpose(2, 0, 1)
    assert np.array_equal(load_part(prepared / "test_inputs" / "site-1")["x"][0], crop)
    # a shorter side of 223 (resize_images.py rounding down) repeats its last row
    padded = bridge._centre_crop(np.arange(223 * 299 * 3).reshape(223, 299, 3), 224)
    assert padded.shape == (224, 224, 3) and np.array_equal(padded[-1], padded[-2])


def test_deterministic(prepared, source, tmp_path):
    again = bridge.prepare(tmp_path / "isic", source=source, options=SUBSET)
    assert json.loads((again / "manifest.json").read_text()) == json.loads((prepared / "manifest.json").read_text())


def _copy(source: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "src"
    shutil.copytree(source, dest)
    return dest


def test_split_checksum_checked_unless_subset(source, tmp_path):
    with pytest.raises(DataSourceError, match=rf"train_test_split has md5 .*expected {bridge.SPLIT_MD5}"):
        bridge.prepare(tmp_path / "isic", source=source)
    assert not (tmp_path / "isic").exists()


def test_missing_folder_file_and_image_named(source, tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        bridge.prepare(tmp_path / "isic", source=tmp_path / "nowhere", options=SUBSET)
    src = _copy(source, tmp_path)
    (src / "ISIC_2019_Training_GroundTruth.csv").unlink()
    with pytest.raises(DataSourceError, match="missing ISIC_2019_Training_GroundTruth.csv"):
        bridge.prepare(tmp_path / "isic", source=src, options=SUBSET)
    shutil.copy(source / "ISIC_2019_Training_GroundTruth.csv", src)
    (src / bridge.IMAGES / "ISIC_0060004.jpg").unlink()
    with pytest.raises(DataSourceError, match="missing image ISIC_0060004.jpg"):
        bridge.prepare(tmp_path / "isic", source=src, options=SUBSET)
    shutil.rmtree(src / bridge.IMAGES)
    with pytest.raises(DataSourceError, match="missing folder ISIC_2019_Training_Input_preprocessed"):
        bridge.prepare(tmp_path / "isic", source=src, options=SUBSET)


def test_split_disagreeing_with_ground_truth_refused(source, tmp_path):
    src = _copy(source, tmp_path)
    text = (src / "train_test_split").read_text().splitlines()
    fields = text[1].split(",")
    fields[10] = "3"                                   # target no longer the one-hot class
    (src / "train_test_split").write_text("\n".join([text[0], ",".join(fields), *text[2:]]) + "\n")
    with pytest.raises(DataSourceError, match="line 2: target 3 of ISIC_0060000 but .* says MEL"):
        bridge.prepare(tmp_path / "isic", source=src, options=SUBSET)


def test_unpreprocessed_image_refused(source, tmp_path):
    from PIL import Image

    src = _copy(source, tmp_path)
    Image.new("RGB", (1024, 768)).save(src / bridge.IMAGES / "ISIC_0060000.jpg")
    with pytest.raises(DataSourceError, match="expected FLamby's preprocessed images"):
        bridge.prepare(tmp_path / "isic", source=src, options=SUBSET)


def test_options_checked(source, tmp_path):
    with pytest.raises(ValueError, match="exactly 6 clients"):
        bridge.prepare(tmp_path / "isic", source=source, options={"num_clients": 3})
    with pytest.raises(ValueError, match="unknown isic data option"):
        bridge.prepare(tmp_path / "isic", source=source, options={"size": 128})


def test_b0_keys_match_the_model():
    torch = pytest.importorskip("torch")
    from afr_box.tasks.isic.surface import models
    model = models.build_model()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert shapes == {pretrained.PREFIX + k: v for k, v in pretrained.b0_shapes().items()}
    assert sum(p.numel() for p in model.parameters()) == 4_017_796
    assert model(torch.zeros(1, 3, 200, 200)).shape == (1, 8)


def _b0_arrays(num_classes: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s).astype(np.float32) for k, s in pretrained.b0_shapes(num_classes).items()}


def test_weights_npz_with_imagenet_head_become_an_asset(source, tmp_path):
    arrays = _b0_arrays(1000)
    np.savez(tmp_path / "b0.npz", **arrays)
    out = bridge.prepare(tmp_path / "isic", source=source, options={**SUBSET, "weights": str(tmp_path / "b0.npz")})
    asset = dict(np.load(out / "train" / "assets" / pretrained.ASSET))
    assert set(asset) == {pretrained.PREFIX + k for k in arrays if not k.startswith("_fc.")}
    assert np.array_equal(asset["base_model._conv_stem.weight"], arrays["_conv_stem.weight"])


def test_model_loads_the_asset_from_the_training_data(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from afr_box.tasks.isic.surface import models
    arrays = _b0_arrays(1000)
    (tmp_path / "assets").mkdir()
    np.savez(tmp_path / "b0.npz", **arrays)
    np.savez(tmp_path / "assets" / pretrained.ASSET, **pretrained.convert(tmp_path / "b0.npz"))
    monkeypatch.setenv("AFR_DATA_DIR", str(tmp_path))
    loaded = models.build_model()
    assert np.array_equal(loaded.base_model._blocks[5]._se_reduce.weight.detach().numpy(), arrays["_blocks.5._se_reduce.weight"])
    monkeypatch.setenv("AFR_DATA_DIR", str(tmp_path / "none"))
    fresh = models.build_model()
    assert torch.equal(loaded.base_model._fc.weight, fresh.base_model._fc.weight)   # head: seeded init


def _torchvision_names() -> list[str]:
    """torchvision efficientnet_b0 state_dict keys in order (Conv2dNormActivation = conv + bn,
    MBConv.block = [expand], depthwise, SqueezeExcitation(fc1, fc2), project)."""
    def conv_bn(prefix):
        return [prefix + ".0.weight"] + [prefix + ".1." + k for k in
                                         ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    names = conv_bn("features.0")
    for stage, (expand, _k, _s, _cin, _cout, repeats) in enumerate(pretrained.B0_STAGES, 1):
        for j in range(repeats):
            b = f"features.{stage}.{j}.block"
            layers = ([conv_bn(f"{b}.0")] if expand != 1 else [])
            layers.append(conv_bn(f"{b}.{len(layers)}"))
            layers.append([f"{b}.{len(layers)}.{fc}.{w}" for fc in ("fc1", "fc2") for w in ("weight", "bias")])
            layers.append(conv_bn(f"{b}.{len(layers)}"))
            names += [n for layer in layers for n in layer]
    return names + conv_bn("features.8") + ["classifier.1.weight", "classifier.1.bias"]


def test_weights_pth_torchvision_names_and_errors(tmp_path):
    torch = pytest.importorskip("torch")
    arrays = _b0_arrays(1000)
    names = _torchvision_names()
    values = iter(arrays.values())
    tv = {n: torch.tensor(0) if n.endswith("num_batches_tracked") else torch.from_numpy(next(values)) for n in names}
    torch.save({"state_dict": tv}, tmp_path / "tv.pth")
    converted = pretrained.convert(tmp_path / "tv.pth")
    assert np.array_equal(converted["base_model._blocks.15._project_conv.weight"], arrays["_blocks.15._project_conv.weight"])
    assert not any(k.startswith("base_model._fc.") for k in converted)   # ImageNet head dropped
    bad = dict(arrays)
    bad["_conv_head.weight"] = np.zeros((10, 320, 1, 1), np.float32)
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(pretrained.WeightsError, match=r"_conv_head.weight has shape \(10, 320, 1, 1\)"):
        pretrained.convert(tmp_path / "bad.npz")
    np.savez(tmp_path / "partial.npz", **{k: v for k, v in arrays.items() if "_blocks.3." not in k})
    with pytest.raises(pretrained.WeightsError, match="missing .* EfficientNet-b0 tensors"):
        pretrained.convert(tmp_path / "partial.npz")
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(pretrained.WeightsError, match=r"expected a \.pth/\.pt torch state_dict or an \.npz"):
        pretrained.convert(tmp_path / "w.bin")


def test_same_outputs_as_efficientnet_pytorch():
    torch = pytest.importorskip("torch")
    efficientnet_pytorch = pytest.importorskip("efficientnet_pytorch")
    from afr_box.tasks.isic.surface import models
    reference = efficientnet_pytorch.EfficientNet.from_name("efficientnet-b0", num_classes=8)
    ours = models.build_model()
    ours.load_state_dict({pretrained.PREFIX + k: v for k, v in reference.state_dict().items()}, strict=True)
    reference.eval(), ours.eval()
    x = torch.randn(2, 3, 200, 200, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(reference(x), ours(x), atol=1e-5)


def test_balanced_accuracy_hand_computed_and_against_sklearn():
    y = np.array([0, 0, 0, 1, 2, 2])
    scores = np.eye(8)[[0, 1, 0, 1, 2, 5]]
    # recalls: class 0 2/3, class 1 1/1, class 2 1/2 (class 5 is only predicted: left out)
    assert score(y, scores) == pytest.approx((2 / 3 + 1 + 0.5) / 3)
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 8, size=50)
        s = rng.normal(size=(50, 8))
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = sklearn_metrics.balanced_accuracy_score(y, s.argmax(axis=1))
        assert score(y, s) == pytest.approx(expected, abs=1e-12)


def test_balanced_accuracy_rejects_malformed_predictions():
    y = np.array([0, 1])
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        score(y, np.zeros((2, 7)))
    with pytest.raises(ValueError, match="2 rows"):
        score(np.array([0, 1, 2]), np.zeros((2, 8)))
    with pytest.raises(ValueError, match="NaN"):
        score(y, np.full((2, 8), np.nan))
    with pytest.raises(ValueError, match="integer"):
        score(np.array([0.0, 1.0]), np.zeros((2, 8)))


def test_predict_normalises_like_flamby(tmp_path):
    torch = pytest.importorskip("torch")
    from afr_box.tasks.isic import predict

    seen = []
    x = np.full((40, 3, 200, 200), 255, np.uint8)

    def model(batch):
        seen.append(batch)
        return torch.zeros(len(batch), 8)

    out = predict.predict(model, site_of(tmp_path, x=x))
    assert out.shape == (40, 8) and max(len(b) for b in seen) <= predict.BATCH
    assert torch.allclose(seen[0][0, :, 0, 0], (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))
