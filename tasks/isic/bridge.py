"""Fed-ISIC2019 data bridge (fixed code): FLamby's dermoscopy classification, without FLamby.

On-disk format read (FLamby's output folder after `fed_isic2019/dataset_creation_scripts/
download_isic.py --output-folder DIR` and `resize_images.py`):

    DIR/ISIC_2019_Training_Input_preprocessed/<image>.jpg   shorter side 224 (aspect kept,
                                                             color constancy), RGB JPEG
    DIR/ISIC_2019_Training_GroundTruth.csv                   image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK
                                                             (one-hot floats; 23,247 rows)
    DIR/train_test_split                                     FLamby's split file, shipped with its
                                                             code (`dataset_creation_scripts/
                                                             train_test_split`): copy it here
                                                             (or --option split=FILE)

The split file (columns image, the nine one-hot columns, target, center, fold, fold2) decides
everything, as in FLamby's `dataset.py`: client k's train (test) images are the rows with
`fold2 == "train_k"` (`"test_k"`), in file order; the label is `target` (0..7: MEL, NV, BCC,
AK, BKL, DF, VASC, SCC). Checked here: its md5 (FLamby's file, unless option subset=true for a
sample), fold2 == fold + "_" + center, target == arg-max of the image's GroundTruth.csv row,
every image present. Sizes (train/test): 9930/2483, 3163/791, 2691/672, 1807/452, 655/164, 351/88.

Stored as uint8 (n, 3, H, W) RGB: test images as FLamby's test transform crops them,
CenterCrop(200); training images as the central 224 x 224 square (one edge row/column
repeated where FLamby's resize rounded the shorter side down to 223), from which the client
draws FLamby's RandomCrop(200) and its other augmentations. 150 KB per training image. Images
are streamed into their site CHUNK at a time: preparing never holds a whole site.

Option weights=FILE: EfficientNet-b0 pretrained weights, checked and stored as
train/assets/efficientnet_b0.npz (see pretrained.py).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from afr_box.tasks.shared.hashing import file_digest
from afr_box.tasks.isic import pretrained
from afr_box.tasks.isic.images import CROP
from afr_box.tasks.shared.formats.flamby_csv import read_table
from afr_box.tasks.shared.formats.flamby_options import flag
from afr_box.tasks.shared.prepared import PreparedWriter
from afr_box.tasks.shared.progress import progress
from afr_box.tasks.shared.sources import DataSourceError

IMAGES = "ISIC_2019_Training_Input_preprocessed"
GROUND_TRUTH = "ISIC_2019_Training_GroundTruth.csv"
SPLIT_FILE = "train_test_split"
SPLIT_MD5 = "f65e84dcd1e6b69edf55960899b22d81"   # FLamby main: fed_isic2019/dataset_creation_scripts/train_test_split
CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")
GT_COLUMNS = ("image",) + CLASSES + ("UNK",)
SPLIT_COLUMNS = GT_COLUMNS + ("target", "center", "fold", "fold2")
NUM_CENTERS = 6
TRAIN_SIZE = 224
SOURCE_HINT = ("run FLamby's fed_isic2019 download_isic.py and resize_images.py into DIR, copy FLamby's "
               "dataset_creation_scripts/train_test_split there, then afr-box data prepare isic --source DIR "
               "[--option weights=b0.pth]")
SPLIT_NOTE = "FLamby Fed-ISIC2019 train_test_split (fold2 = train_k / test_k per center k, file order)"
OPTIONS = {"subset": False, "split": None, "weights": None}
CHUNK = 256  # images decoded before they are appended to their site's file (~38 MB)


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    header, rows = read_table(path, columns, "part of FLamby's ISIC 2019 data: " + SOURCE_HINT)
    return [dict(zip(header, row)) for row in rows]


def _one_hot_class(row: dict[str, str], source: str) -> int:
    try:
        values = [float(row[c]) for c in CLASSES + ("UNK",)]
    except ValueError:
        raise DataSourceError(f"{source}: image {row['image']} has a non-numeric class column") from None
    if sorted(values) != [0.0] * 8 + [1.0] or values[-1] == 1.0:
        raise DataSourceError(f"{source}: image {row['image']} is not one-hot over {list(CLASSES)}")
    return int(np.argmax(values))


def read_split(split_path: Path, ground_truth: Path, subset: bool) -> list[list[tuple[str, str, int]]]:
    """Per center, (image, fold, target) in file order, checked against the ground truth."""
    if not subset and split_path.is_file() and file_digest(split_path, "md5") != SPLIT_MD5:
        raise DataSourceError(f"{split_path.name} has md5 {file_digest(split_path, 'md5')}, expected {SPLIT_MD5} "
                              f"(FLamby's train_test_split); copy FLamby's file unchanged")
    truth = {r["image"]: _one_hot_class(r, ground_truth.name) for r in _rows(ground_truth, GT_COLUMNS)}
    centers: list[list[tuple[str, str, int]]] = [[] for _ in range(NUM_CENTERS)]
    for line, r in enumerate(_rows(split_path, SPLIT_COLUMNS), 2):
        where = f"{split_path.name} line {line}"
        if r["center"] not in {str(c) for c in range(NUM_CENTERS)} or r["fold"] not in ("train", "test"):
            raise DataSourceError(f"{where}: center {r['center']!r} / fold {r['fold']!r}; expected 0..5 / train|test")
        if r["fold2"] != f"{r['fold']}_{r['center']}":
            raise DataSourceError(f"{where}: fold2 {r['fold2']!r} disagrees with fold and center")
        if r["target"] not in {str(c) for c in range(len(CLASSES))}:
            raise DataSourceError(f"{where}: target {r['target']!r}; expected 0..7")
        if r["image"] not in truth:
            raise DataSourceError(f"{where}: image {r['image']} is not in {ground_truth.name}")
        if truth[r["image"]] != int(r["target"]):
            raise DataSourceError(f"{where}: target {r['target']} of {r['image']} but {ground_truth.name} says "
                                  f"{CLASSES[truth[r['image']]]} ({truth[r['image']]})")
        centers[int(r["center"])].append((r["image"], r["fold"], int(r["target"])))
    for k, rows in enumerate(centers):
        for fold in ("train", "test"):
            if not any(f == fold for _, f, _ in rows):
                raise DataSourceError(f"{split_path.name}: center {k} has no {fold} images")
    return centers


def _centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Central size x size crop of an (H, W, 3) array (albumentations CenterCrop offsets);
    a side shorter than `size` is padded by repeating its edge."""
    h, w = image.shape[:2]
    if min(h, w) < size:
        image = np.pad(image, ((0, max(size - h, 0)), (0, max(size - w, 0)), (0, 0)), mode="edge")
        h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top:top + size, left:left + size]


def load_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image  # host-side only

    if not path.is_file():
        raise DataSourceError(f"missing image {path.name} in {path.parent} (listed in the split)")
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"))
    except OSError as exc:
        raise DataSourceError(f"{path} is not a readable JPEG: {exc}") from None
    if min(array.shape[:2]) < CROP or min(array.shape[:2]) > TRAIN_SIZE:
        raise DataSourceError(f"{path.name} is {array.shape[1]}x{array.shape[0]}: expected FLamby's preprocessed "
                              f"images (shorter side 224, from resize_images.py)")
    return np.ascontiguousarray(_centre_crop(array, size).transpose(2, 0, 1))


def write_sites(writer: PreparedWriter, source: Path, split_path: Path, subset: bool) -> dict:
    """Every center's images streamed into its site, CHUNK images at a time; the sizes written."""
    source = Path(source)
    if not source.is_dir():
        raise DataSourceError(f"isic source folder {source} does not exist; " + SOURCE_HINT)
    if not (source / IMAGES).is_dir():
        raise DataSourceError(f"missing folder {IMAGES}/ in {source}: run FLamby's resize_images.py after download_isic.py")
    centers = read_split(split_path, source / GROUND_TRUTH, subset)
    listed = [source / IMAGES / f"{image}.jpg" for rows in centers for image, _, _ in rows]
    progress().total(len(listed), sum(p.stat().st_size for p in listed if p.is_file()), "images")
    sizes = {}
    for k, rows in enumerate(centers):
        for fold, size in (("train", TRAIN_SIZE), ("test", CROP)):
            chosen = [(image, target) for image, f, target in rows if f == fold]
            out = writer.part(k, fold)
            for start in range(0, len(chosen), CHUNK):
                chunk = chosen[start:start + CHUNK]
                paths = [source / IMAGES / f"{image}.jpg" for image, _ in chunk]
                out.append(x=np.stack([load_image(p, size) for p in paths]),
                           y=np.array([t for _, t in chunk], dtype=np.int64))
                progress().done(sum(p.stat().st_size for p in paths), files=len(paths))
            writer.close_part(k, fold, out)
            sizes.setdefault(f"center {k}", {})[fold] = len(chosen)
    return sizes


def _options(options: dict | None) -> dict:
    opts = dict(OPTIONS)
    for key, value in (options or {}).items():
        if key == "num_clients":
            if value != NUM_CENTERS:
                raise ValueError(f"isic has exactly {NUM_CENTERS} clients (FLamby centers), got num_clients={value}")
        elif key == "subset":
            opts[key] = flag(key, value)
        elif key in opts:
            opts[key] = None if value is None else str(value)
        else:
            raise ValueError(f"unknown isic data option {key!r}; known: {sorted(OPTIONS)}")
    return opts


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare Fed-ISIC2019 into `dest` from FLamby's preprocessed folder (`source`)."""
    opts = _options(options)
    if download:
        raise DataSourceError("isic cannot be downloaded by afr-box (ISIC archive licence): " + SOURCE_HINT)
    if source is None:
        raise DataSourceError("isic needs its data folder: " + SOURCE_HINT)
    split_path = Path(opts["split"]) if opts["split"] else Path(source) / SPLIT_FILE
    weights = None
    if opts["weights"]:
        try:
            weights = pretrained.convert(Path(opts["weights"]))
        except pretrained.WeightsError as exc:
            raise DataSourceError(str(exc)) from None
    writer = PreparedWriter(dest, "isic")
    sizes = write_sites(writer, Path(source), split_path, opts["subset"])
    provenance = {
        "dataset": "Fed-ISIC2019 (FLamby), ISIC 2019 challenge training set, CC BY-NC 4.0",
        "classes": list(CLASSES),
        "sizes": sizes,
        "split": SPLIT_NOTE,
        "split_md5": file_digest(split_path, "md5"),
        "stored": {"train": f"uint8 (n, 3, {TRAIN_SIZE}, {TRAIN_SIZE}) central crop",
                   "test": f"uint8 (n, 3, {CROP}, {CROP}) CenterCrop"},
        "pretrained": (f"{Path(opts['weights']).name} -> assets/{pretrained.ASSET} ({len(weights)} tensors)"
                       if weights else "none (seeded random initialisation)"),
        "options": {"subset": opts["subset"]},
    }
    with tempfile.TemporaryDirectory(prefix="afr-isic-") as tmp:
        if weights:
            np.savez(Path(tmp) / pretrained.ASSET, **weights)
            writer.asset(pretrained.ASSET, Path(tmp) / pretrained.ASSET)
        return writer.commit(provenance)
