"""LEAF CelebA data bridge (fixed code): LEAF's JSON shards + the aligned CelebA JPEGs,
celebrities grouped into N clients, images resized to 84x84 RGB as LEAF's model does.

Source (`--source DIR`): LEAF's `data/celeba/data/` folder after `./preprocess.sh ... -t sample`:

    DIR/train/*.json                 LEAF shards: users = celebrity ids, x = image file names
    DIR/test/*.json                  ("000123.jpg"), y = the "Smiling" attribute (0/1; LEAF's
                                     metadata_to_json.py writes it as 0.0/1.0)
    DIR/raw/img_align_celeba/*.jpg   the aligned CelebA images the x names refer to

(`DIR/raw/` is where LEAF's README has you put the CelebA download; identity_CelebA.txt and
list_attr_celeba.txt there are only read by LEAF's own preprocessing, not here.)

Images: LEAF's models/celeba/cnn.py loads each as `Image.open(f).resize((84, 84)).convert('RGB')`
(Pillow's default resize filter, bicubic since Pillow 7) and feeds the 0-255 values; here they
are stored once as uint8 arrays (n, 84, 84, 3). LEAF's sampling varies, so there is no fixed
checksum: every shard's sha256 is recorded in the provenance. Clients: celebrities sorted by id,
celebrity k -> client k mod N. Metric: accuracy, pooled (LEAF).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from afr_box.tasks.shared.formats.leaf_clients import num_clients_option, write_leaf_sites
from afr_box.tasks.shared.prepared import PreparedWriter
from afr_box.tasks.shared.sources import DataSourceError

IMAGE_SIZE = 84
IMAGES = Path("raw") / "img_align_celeba"
SOURCE_HINT = ("no download: get CelebA's aligned images into leaf/data/celeba/data/raw/img_align_celeba, run "
               "LEAF's ./preprocess.sh -s niid --sf 0.05 -k 5 -t sample in leaf/data/celeba, then "
               "afr-box data prepare celeba --source leaf/data/celeba/data")
NO_DOWNLOAD = ("celeba has no ready-made download: LEAF builds its JSON from CelebA's images and metadata "
               "(mmlab.ie.cuhk.edu.hk/projects/CelebA.html: img_align_celeba, list_attr_celeba.txt, "
               "identity_CelebA.txt into leaf/data/celeba/data/raw/). Then run LEAF's "
               "`./preprocess.sh -s niid --sf 0.05 -k 5 -t sample` (small CelebA; --sf 1.0 for the full one, which needs more than the 6 GB training container) in leaf/data/celeba and pass "
               "--source leaf/data/celeba/data (the folder holding train/, test/ and raw/img_align_celeba/)")


def load_image(path: Path) -> np.ndarray:
    """One image as LEAF's CelebA model loads it: resized to 84x84, then RGB; uint8 (84, 84, 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            small = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC).convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise DataSourceError(f"celeba: cannot read image {path} ({exc})") from None
    return np.asarray(small, dtype=np.uint8)


def _image_loader(images: Path):
    def convert(names: list, where: str) -> np.ndarray:
        out = np.empty((len(names), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        for i, name in enumerate(names):
            if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
                raise DataSourceError(f"celeba {where}: x must be image file names like '000123.jpg', got {name!r}")
            path = images / name
            if not path.is_file():
                raise DataSourceError(f"celeba {where}: image {name} named in the JSON is missing from {images}")
            out[i] = load_image(path)
        return out
    return convert


def _labels(labels: list, where: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.dtype.kind not in "iuf" or not np.isin(y, (0, 1)).all():
        raise DataSourceError(f"celeba {where}: y must be the Smiling attribute as 0/1 (LEAF writes 0.0/1.0)")
    return y.astype(np.int64)


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare LEAF CelebA into `dest` from LEAF's data folder (`source`)."""
    num_clients = num_clients_option(options, "celeba")
    if download:
        raise DataSourceError(NO_DOWNLOAD)
    if source is None:
        raise DataSourceError("celeba needs --source: " + NO_DOWNLOAD)
    source = Path(source)
    images = source / IMAGES
    if source.is_dir() and not images.is_dir():
        raise DataSourceError(f"celeba: no image folder {images}; put CelebA's aligned JPEGs (img_align_celeba/) "
                              f"under raw/ beside LEAF's train/ and test/, as LEAF's README says")
    writer = PreparedWriter(dest, "celeba")
    provenance = write_leaf_sites(writer, source, "celeba", num_clients, _image_loader(images), _labels)
    provenance = {
        "dataset": "LEAF CelebA (CelebFaces Attributes, target Smiling), LEAF JSON + img_align_celeba",
        "inputs": f"x: uint8 (n, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) RGB, resized as LEAF (bicubic); y: int64 0/1",
        **provenance,
        "options": {"num_clients": num_clients},
    }
    return writer.commit(provenance)
