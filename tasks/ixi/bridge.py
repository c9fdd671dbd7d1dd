"""Fed-IXI data bridge (fixed code): FLamby's IXI-Tiny brain-mask segmentation, without FLamby.

On-disk format read (what FLamby's `fed_ixi/dataset_creation_scripts/download.py` leaves after
unzipping Mendeley's `7kd5wj7v7p-3.zip` into its output folder):

    <output folder>/7kd5wj7v7p-3/IXI_sample/
        IXI002-Guys-0828/T1/IXI002-Guys-0828_image.nii.gz     T1 volume (83 x 44 x 55)
        IXI002-Guys-0828/label/IXI002-Guys-0828_label.nii.gz  ROBEX brain mask, same grid
        IXI012-HH-1211/...                                    one folder per subject
        (other modality folders, IXI.xls: not read)

`--source` may name the output folder, `7kd5wj7v7p-3/` or `IXI_sample/` itself.

Reproduces `flamby/datasets/fed_ixi/dataset.py` (FLamby main branch):

1. subjects are the folders of IXI_sample; the center is the second `-` field of the folder
   name (Guys 0, HH 1, IOP 2), the patient id the digits after `IXI`; one `*.nii.gz` in `T1/`
   and one in `label/`;
2. the train/test part of each patient comes from FLamby's `metadata_tiny.csv`
   (transcribed in flamby_split.py);
3. image and mask are resized to 48 x 60 x 48 with MONAI's `Resize` default (`area`, i.e. box
   averages over torch's adaptive-pooling windows); the image is then normalised over the whole
   volume, (v - mean) / std (population std; std 0 -> 1), as MONAI's `NormalizeIntensity()`;
   the resized mask is cast to class indices (`long()`, truncation, as MONAI's
   `AsDiscrete(to_onehot=2)`), so a voxel is brain only where every source voxel was.

Computed in float64 with numpy, then stored float32: agrees with FLamby's float32 torch
pipeline to within float32 rounding.

Stored per site: `x` (n, 1, 48, 60, 48) float32 and `y` (n, 48, 60, 48) uint8 brain mask (the
foreground channel of FLamby's one-hot target; the background channel is 1 - y).
Sizes (train/test): Guys 249/62, HH 145/36, IOP 59/15.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from afr_box.tasks.ixi.flamby_split import SPLIT
from afr_box.tasks.shared.formats.flamby_options import flag
from afr_box.tasks.shared.prepared import PreparedWriter
from afr_box.tasks.shared.progress import progress
from afr_box.tasks.shared.sources import DataSourceError

ZIP_FOLDER = "7kd5wj7v7p-3"          # FLamby's common.FOLDER (Mendeley archive name)
SAMPLE_FOLDER = "IXI_sample"
CENTERS = ("Guys", "HH", "IOP")      # FLamby's CENTER_LABELS order = client order
SHAPE = (48, 60, 48)                 # FLamby's common_shape
SOURCE_HINT = ("run FLamby's fed_ixi/dataset_creation_scripts/download.py -o DIR (Mendeley "
               "7kd5wj7v7p-3.zip, unzipped), then afr-box data prepare ixi --source DIR")
SPLIT_NOTE = ("FLamby Fed-IXI metadata_tiny.csv (per center 80/20, numpy seed 10); volumes resized "
              "to 48x60x48 (area), image z-scored per volume, mask truncated to {0,1}")
OPTIONS = {"subset": False}
_SUBJECT = re.compile(r"^IXI(\d{3})-([A-Za-z]+)-(\d+)$")


def sample_folder(source: Path) -> Path:
    """IXI_sample/ under FLamby's download folder (or the folder itself)."""
    source = Path(source)
    if not source.is_dir():
        raise DataSourceError(f"ixi source folder {source} does not exist; pass the folder that FLamby's "
                              f"download.py wrote (it holds {ZIP_FOLDER}/{SAMPLE_FOLDER}/)")
    for candidate in (source / ZIP_FOLDER / SAMPLE_FOLDER, source / SAMPLE_FOLDER, source):
        if candidate.name == SAMPLE_FOLDER and candidate.is_dir():
            return candidate
    raise DataSourceError(f"no {ZIP_FOLDER}/{SAMPLE_FOLDER}/ folder in {source}: unzip FLamby's IXI-Tiny "
                          f"archive ({ZIP_FOLDER}.zip) there, or pass the {SAMPLE_FOLDER} folder itself")


def area_resize(volume: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Box-average resize over torch's adaptive-pooling windows (MONAI `area`), one axis at a
    time: the average over a product of windows equals the successive 1-D averages. Each window
    is averaged directly, so an all-ones mask window stays exactly 1."""
    out = np.asarray(volume, dtype=np.float64)
    for axis, size in enumerate(shape):
        n = out.shape[axis]
        moved = np.moveaxis(out, axis, 0)
        rows = [moved[(i * n) // size:-((-(i + 1) * n) // size)].mean(axis=0) for i in range(size)]
        out = np.moveaxis(np.stack(rows), 0, axis)
    return out


def preprocess_image(volume: np.ndarray) -> np.ndarray:
    resized = area_resize(volume, SHAPE)
    std = resized.std()
    return ((resized - resized.mean()) / (std if std != 0 else 1.0)).astype(np.float32)


def preprocess_mask(volume: np.ndarray, name: str) -> np.ndarray:
    classes = np.trunc(area_resize(volume, SHAPE))
    if classes.min() < 0 or classes.max() > 1:
        raise DataSourceError(f"{name}: brain mask values must lie in [0, 1] (got {volume.min()}..{volume.max()})")
    return classes.astype(np.uint8)


def _one_nifti(folder: Path) -> Path:
    if not folder.is_dir():
        raise DataSourceError(f"missing folder {folder} (each subject needs T1/ and label/)")
    files = sorted(folder.glob("*.nii.gz"))
    if len(files) != 1:
        raise DataSourceError(f"{folder} holds {len(files)} .nii.gz files, expected exactly one")
    return files[0]


def _read_volume(path: Path) -> np.ndarray:
    import nibabel  # host-side only

    try:
        volume = np.asarray(nibabel.load(str(path)).get_fdata(), dtype=np.float64)
    except Exception as exc:  # nibabel raises several types for damaged files
        raise DataSourceError(f"{path} is not a readable NIfTI volume: {exc}") from None
    if volume.ndim != 3:
        raise DataSourceError(f"{path}: expected a 3-D volume, got shape {volume.shape}")
    return volume


def list_subjects(folder: Path) -> dict[str, list[tuple[int, Path]]]:
    """(patient id, subject folder) per center, sorted by id; checked against FLamby's split."""
    known = {pid: (center, part) for center, parts in SPLIT.items() for part, ids in parts.items() for pid in ids}
    found: dict[str, list[tuple[int, Path]]] = {c: [] for c in CENTERS}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        match = _SUBJECT.match(sub.name)
        if not match:
            raise DataSourceError(f"unexpected folder {sub.name} in {folder}: subject folders are named "
                                  f"IXI<3-digit id>-<Guys|HH|IOP>-<number>")
        pid, center = int(match.group(1)), match.group(2)
        if center not in CENTERS:
            raise DataSourceError(f"{sub.name}: unknown center {center!r}; expected one of {CENTERS}")
        if pid not in known:
            raise DataSourceError(f"{sub.name}: patient {pid} is not in FLamby's IXI-Tiny split (metadata_tiny.csv)")
        if known[pid][0] != center:
            raise DataSourceError(f"{sub.name}: FLamby's split puts patient {pid} in center {known[pid][0]}, not {center}")
        found[center].append((pid, sub))
    return found


def write_sites(writer: PreparedWriter, source: Path, subset: bool = False) -> dict:
    """Every center's subjects checked, then streamed into its site one volume at a time."""
    folder = sample_folder(source)
    subjects = list_subjects(folder)
    counts = {}
    for center in CENTERS:
        parts = {part: [sub for pid, sub in subjects[center] if (pid in SPLIT[center]["test"]) == (part == "test")]
                 for part in ("train", "test")}
        for part, ids in SPLIT[center].items():
            have = len(parts[part])
            if have != len(ids) and not subset:
                raise DataSourceError(f"{folder}: center {center} has {have} of FLamby's {len(ids)} {part} subjects; "
                                      f"the IXI-Tiny download is incomplete (use option subset=true only for a sample)")
            if have == 0:
                raise DataSourceError(f"{folder}: center {center} has no {part} subjects")
        counts[center] = {part: len(subs) for part, subs in parts.items()}
    def size(sub: Path) -> int:
        return sum(p.stat().st_size for p in sub.rglob("*.nii.gz"))

    progress().total(sum(len(s) for s in subjects.values()), sum(size(s) for v in subjects.values() for _, s in v),
                     "subjects")
    for k, center in enumerate(CENTERS):
        for part in ("train", "test"):
            out = writer.part(k, part)
            for pid, sub in subjects[center]:
                if (pid in SPLIT[center]["test"]) != (part == "test"):
                    continue
                image = _read_volume(_one_nifti(sub / "T1"))
                mask = _read_volume(_one_nifti(sub / "label"))
                if image.shape != mask.shape:
                    raise DataSourceError(f"{sub.name}: T1 shape {image.shape} differs from label shape {mask.shape}")
                out.append(x=preprocess_image(image)[None][None], y=preprocess_mask(mask, sub.name)[None])
                progress().done(size(sub))
            writer.close_part(k, part, out)
    return counts


def _options(options: dict | None) -> dict:
    opts = dict(OPTIONS)
    for key, value in (options or {}).items():
        if key == "num_clients":
            if value != len(CENTERS):
                raise ValueError(f"ixi has exactly {len(CENTERS)} clients (FLamby centers), got num_clients={value}")
        elif key == "subset":
            opts[key] = flag(key, value)
        else:
            raise ValueError(f"unknown ixi data option {key!r}; known: {sorted(OPTIONS)}")
    return opts


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare Fed-IXI into `dest` from FLamby's unzipped IXI-Tiny download (`source`)."""
    opts = _options(options)
    if download:
        raise DataSourceError("ixi cannot be downloaded by afr-box: " + SOURCE_HINT)
    if source is None:
        raise DataSourceError("ixi needs its data folder: " + SOURCE_HINT)
    writer = PreparedWriter(dest, "ixi")
    counts = write_sites(writer, Path(source), subset=opts["subset"])
    provenance = {
        "dataset": "Fed-IXI (FLamby), IXI Tiny (TorchIO), CC BY-SA 3.0",
        "centers": list(CENTERS),
        "subjects": counts,
        "shape": list(SHAPE),
        "split": SPLIT_NOTE,
        "options": opts,
    }
    return writer.commit(provenance)
