"""Fed-Camelyon16 data bridge (fixed code): FLamby's tile features, labels and centers, without FLamby.

The slides themselves (900 GB) are not read here. FLamby's `tiling_slides.py` tiles each slide
(224x224 tiles at level 1, tissue only) and saves the ImageNet ResNet50 features of its tiles as
ONE file per slide, `<slide>.tif.npy` (e.g. `tumor_001.tif.npy`): a float32 array of shape
(n_tiles, 2048), features only (tile coordinates go to a separate CSV, not needed here).
The source folder given to this bridge holds those files plus FLamby's two tables, copied from
its package folder `flamby/datasets/fed_camelyon16/`:

    labels.csv              filenames (`<slide>.tif.npy`), tumor (True/False)
    metadata/metadata.csv   label, ..., hospital_corrected (center 0/1), slide_name (`<slide>.tif`)
                            (here `metadata.csv` directly in the folder, or `metadata/metadata.csv`)

Reproduces `flamby/datasets/fed_camelyon16/dataset.py` (FLamby main branch):

1. the sorted `*.npy` files, without normal_086 and test_049 (removed from Camelyon16), shuffled
   with Python's `random.seed(0); random.shuffle` (the slide order of every FLamby dataset);
2. label = labels.csv `tumor` (checked equal to metadata's `label`); center = metadata's
   `hospital_corrected`: 0 = Radboud UMC (RUMC), 1 = UMC Utrecht (UMCU); a slide is a test slide
   when its name holds `test` (FLamby looks at the whole path; here the file name only), the
   training slides' names must agree with FLamby's checks (normal_N: center 1 iff N > 100, label 0;
   tumor_N: center 1 iff N > 70, label 1);
3. each bag as FLamby's `collate_fn` feeds it: tiles in the order of
   `np.random.default_rng(42).permutation(n_tiles)`, at most `max_tiles` (10000) of them. FLamby
   then pads every bag with zero tiles up to 10000; that padding is left to the model (see
   tasks/camelyon/models.py), so the prepared bags hold real tiles only.

Bags are stored as the ragged pair `x` (all tiles, float32) + `x_offsets`; `y` is 0/1 float32.
Slides are streamed: each feature file is memory-mapped and its kept tiles appended to its site's
file, so preparing holds one bag (at most max_tiles x feature_dim floats) in memory, whatever
the number of slides.
With FLamby's tables the sizes are (train/test) 169/74 (RUMC) and 101/55 (UMCU); a smaller
set of slides (e.g. FLamby's debug download) works as long as both tables list exactly the slides
present. Whether the tables are FLamby's own (md5) is recorded in the manifest's provenance.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np

from afr_box.tasks.shared.formats.flamby_csv import column, read_table
from afr_box.tasks.shared.prepared import PreparedWriter
from afr_box.tasks.shared.progress import progress
from afr_box.tasks.shared.sources import DataSourceError
from afr_box.tasks.shared.hashing import file_digest

FLAMBY_DIR = "flamby/datasets/fed_camelyon16/"
# md5 of FLamby's tables (main branch): recorded, not required (a debug subset has its own).
FLAMBY_TABLES = {"labels.csv": "382180449e72122824e7d9283fe6722e",
                 "metadata.csv": "a9ea443aef429a9cb7027af057414a8f"}
SOURCE_HINT = ("afr-box data prepare camelyon --source DIR: DIR holds the <slide>.tif.npy features made "
               "by FLamby's fed_camelyon16 download.py + tiling_slides.py, and FLamby's labels.csv and "
               "metadata/metadata.csv (from flamby/datasets/fed_camelyon16/)")
REMOVED = ("normal_086", "test_049")          # taken out of Camelyon16; FLamby skips them
NAME = re.compile(r"^(normal|tumor|test)_(\d+)$")
NUM_CENTERS = 2
CENTERS = ("RUMC (Radboud)", "UMCU (Utrecht)")
OPTIONS = {"max_tiles": 10000, "feature_dim": 2048}
PERM_SEED = 42
SPLIT_NOTE = ("FLamby Fed-Camelyon16: Camelyon16's own train/test split (test_* slides), centers from "
              "metadata.csv hospital_corrected; slides sorted then random.seed(0)-shuffled; tiles in "
              "default_rng(42).permutation order, first max_tiles kept")


def _slide(name: str) -> str:
    """`Tumor_001.tif.npy` -> `tumor_001` (FLamby: basename up to the first dot, lower case)."""
    return name.split(".")[0].lower()


def _tables(folder: Path) -> tuple[dict[str, int], dict[str, tuple[int, int]], dict[str, str]]:
    """slide -> label (labels.csv), slide -> (label, center) (metadata.csv), table -> md5."""
    metadata = folder / "metadata.csv"
    if not metadata.is_file() and (folder / "metadata" / "metadata.csv").is_file():
        metadata = folder / "metadata" / "metadata.csv"
    lh, lrows = read_table(folder / "labels.csv", ["filenames", "tumor"],
                           f"FLamby's {FLAMBY_DIR}labels.csv: copy it into the source folder")
    mh, mrows = read_table(metadata, ["label", "hospital_corrected", "slide_name"],
                           f"FLamby's {FLAMBY_DIR}metadata/metadata.csv: copy it into the source folder")
    labels = {}
    for name, tumor in zip(column(lh, lrows, "filenames"), column(lh, lrows, "tumor")):
        if tumor not in ("True", "False"):
            raise DataSourceError(f"labels.csv: tumor of {name} is {tumor!r}, expected True or False")
        labels[_slide(name)] = int(tumor == "True")
    meta = {}
    for name, label, center in zip(column(mh, mrows, "slide_name"), column(mh, mrows, "label"),
                                   column(mh, mrows, "hospital_corrected")):
        try:
            meta[_slide(name)] = (int(float(label)), int(float(center)))
        except ValueError:
            raise DataSourceError(f"metadata.csv: slide {name} has label {label!r} / hospital_corrected "
                                  f"{center!r}, expected numbers") from None
    md5s = {"labels.csv": file_digest(folder / "labels.csv", "md5"), "metadata.csv": file_digest(metadata, "md5")}
    return labels, meta, md5s


def _check_slide(slide: str, label: int, center: int, meta_label: int) -> bool:
    """FLamby's consistency checks; returns True for a test slide."""
    match = NAME.match(slide)
    if not match:
        raise DataSourceError(f"{slide}.tif.npy: not a Camelyon16 slide name (normal_N, tumor_N or test_N)")
    if label != meta_label:
        raise DataSourceError(f"{slide}: labels.csv says tumor={bool(label)} but metadata.csv label={meta_label}")
    if center not in range(NUM_CENTERS):
        raise DataSourceError(f"{slide}: metadata.csv hospital_corrected={center}, expected 0 (RUMC) or 1 (UMCU)")
    kind, number = match.group(1), int(match.group(2))
    if kind == "test":
        return True
    expected_label, limit = (0, 100) if kind == "normal" else (1, 70)
    if label != expected_label or center != int(number > limit):
        raise DataSourceError(f"{slide}: label {label}, center {center} disagree with its name (FLamby: "
                              f"{kind} slides have label {expected_label} and center 1 iff N > {limit})")
    return False


def _features(path: Path, feature_dim: int) -> np.ndarray:
    """A slide's feature file, memory-mapped (its shape is checked before any tile is read)."""
    try:
        features = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataSourceError(f"{path.name}: not a numpy array file as tiling_slides.py saves ({exc})") from None
    if features.ndim != 2 or features.shape[1] != feature_dim or features.shape[0] == 0 or features.dtype.kind != "f":
        raise DataSourceError(f"{path.name}: features of shape {features.shape} ({features.dtype}), expected "
                              f"(n_tiles >= 1, {feature_dim}) floats (ResNet50 features; feature_dim option)")
    return features


def _bag(path: Path, feature_dim: int, max_tiles: int) -> np.ndarray:
    features = _features(path, feature_dim)
    keep = np.random.default_rng(PERM_SEED).permutation(features.shape[0])[:max_tiles]
    order = np.argsort(keep)  # read the file front to back, then put the tiles in FLamby's order
    tiles = np.empty((len(keep), feature_dim), np.float32)
    tiles[order] = features[keep[order]]
    return tiles


def _listed_files(folder: Path) -> list[Path]:
    files = [p for p in sorted(folder.glob("*.npy")) if _slide(p.name) not in REMOVED]
    random.Random(0).shuffle(files)      # = FLamby's random.seed(0); random.shuffle(files)
    return files


def plan_sites(folder: Path, feature_dim: int = 2048) -> tuple[dict[tuple[int, bool], list[tuple[Path, int, str]]], dict]:
    """Which slide goes where, checked before any tile is read: (center, is_test) -> [(feature
    file, label, slide)] in FLamby's order, and what was read (slides per part, table md5s)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataSourceError(f"camelyon data folder {folder} does not exist; pass the folder holding the "
                              f"<slide>.tif.npy features, labels.csv and metadata.csv")
    labels, meta, md5s = _tables(folder)
    files = _listed_files(folder)
    present = {_slide(p.name) for p in files}
    expected = set(labels) - set(REMOVED)
    missing = sorted(expected - present)
    if missing:
        raise DataSourceError(f"{len(missing)} slide feature file(s) listed in labels.csv are missing from "
                              f"{folder}: {', '.join(s + '.tif.npy' for s in missing[:8])}"
                              f"{' ...' if len(missing) > 8 else ''} (run FLamby's tiling_slides.py, or use "
                              f"tables that list only the slides you have)")
    unlisted = sorted(present - set(labels)) + sorted(present - set(meta))
    if unlisted:
        raise DataSourceError(f"feature file(s) not listed in labels.csv and metadata.csv: "
                              f"{', '.join(sorted(set(unlisted))[:8])}")
    parts: dict[tuple[int, bool], list[tuple[Path, int, str]]] = {}
    for path in files:
        slide = _slide(path.name)
        label, (meta_label, center) = labels[slide], meta[slide]
        is_test = _check_slide(slide, label, center, meta_label)
        _features(path, feature_dim)  # a damaged file fails here, before anything is written
        parts.setdefault((center, is_test), []).append((path, label, slide))
    for c in range(NUM_CENTERS):
        for is_test in (False, True):
            if not parts.get((c, is_test)):
                raise DataSourceError(f"center {c} ({CENTERS[c]}) has no {'test' if is_test else 'training'} slides")
    slides = {f"center{c}_{'test' if t else 'train'}": [s for _, _, s in chosen] for (c, t), chosen in sorted(parts.items())}
    return parts, {"slides": slides, "tables_md5": md5s, "tables_are_flambys": md5s == FLAMBY_TABLES}


def write_sites(writer: PreparedWriter, parts: dict, max_tiles: int, feature_dim: int) -> None:
    """Each center's bags streamed into its site, one slide at a time."""
    files = [path for chosen in parts.values() for path, _, _ in chosen]
    progress().total(len(files), sum(p.stat().st_size for p in files), "slides")
    for c in range(NUM_CENTERS):
        for is_test, part in ((False, "train"), (True, "test")):
            out = writer.part(c, part, ragged=("x",))
            for path, label, _ in parts[(c, is_test)]:
                out.append(x=[_bag(path, feature_dim, max_tiles)], y=np.array([label], np.float32))
                progress().done(path.stat().st_size)
            writer.close_part(c, part, out)


def _options(options: dict | None) -> dict:
    opts = dict(OPTIONS)
    for key, value in (options or {}).items():
        if key == "num_clients":
            if value != NUM_CENTERS:
                raise ValueError(f"camelyon has exactly {NUM_CENTERS} clients (FLamby centers), got num_clients={value}")
        elif key in opts:
            opts[key] = int(value)
            if opts[key] < 1:
                raise ValueError(f"camelyon data option {key} must be >= 1, got {value}")
        else:
            raise ValueError(f"unknown camelyon data option {key!r}; known: {sorted(OPTIONS)}")
    return opts


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare Fed-Camelyon16 into `dest` from a folder of FLamby tile features (`source`)."""
    opts = _options(options)
    if download:
        raise DataSourceError("camelyon cannot be downloaded ready-made: the tile features are computed from "
                              "the 900 GB of slides. " + SOURCE_HINT)
    if source is None:
        raise DataSourceError("camelyon needs its tile features: " + SOURCE_HINT)
    parts, read = plan_sites(Path(source), opts["feature_dim"])
    writer = PreparedWriter(dest, "camelyon")
    write_sites(writer, parts, opts["max_tiles"], opts["feature_dim"])
    provenance = {
        "dataset": "Fed-Camelyon16 (FLamby; Camelyon16, CC0), ResNet50 tile features from tiling_slides.py",
        "centers": list(CENTERS),
        "target": "slide label: 1 = tumor, 0 = normal",
        "inputs": "bags of tiles: ragged x (tiles, feature_dim) + x_offsets",
        "split": SPLIT_NOTE,
        "options": opts,
        **read,
    }
    return writer.commit(provenance)
