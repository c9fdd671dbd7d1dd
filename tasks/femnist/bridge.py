"""LEAF FEMNIST data bridge (fixed code): LEAF's JSON shards, writers grouped into N clients.

Source: the folder LEAF's `data/femnist/preprocess.sh` fills (`leaf/data/femnist/data/`),
holding `train/*.json` and `test/*.json`; each user (writer) has
`x`: lists of 784 grey values in [0, 1] (28x28, row-major; pixel levels / 255) and `y`: class
ids 0-61 (10 digits, 26 upper-case, 26 lower-case letters). x is stored as the exact uint8
levels; the model divides by 255, so it sees LEAF's values. LEAF's sampling (`--sf`, seeds) varies,
so there is no fixed checksum: every shard's sha256 is recorded in the provenance instead.
The models need LEAF's per-user sample split (`-t sample`), so every test user also trains.

Clients: writers sorted by id, writer k -> client k mod N (N = budget.clients); a client's
train/test data are its writers' LEAF train/test samples. Metric: accuracy, pooled (LEAF).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from afr_box.tasks.shared.formats.leaf_clients import num_clients_option, write_leaf_sites
from afr_box.tasks.shared.prepared import PreparedWriter
from afr_box.tasks.shared.sources import DataSourceError

PIXELS, NUM_CLASSES = 28 * 28, 62
SOURCE_HINT = ("no download: run LEAF's data/femnist/preprocess.sh (e.g. ./preprocess.sh -s niid --sf 0.05 "
               "-k 0 -t sample), then afr-box data prepare femnist --source leaf/data/femnist/data")
NO_DOWNLOAD = ("femnist has no ready-made download: LEAF builds its JSON from the raw NIST SD19 images. "
               "Clone github.com/TalwalkarLab/leaf, run `./preprocess.sh -s niid --sf 0.05 -k 0 -t sample` "
               "(full size: --sf 1.0) in data/femnist, then pass --source leaf/data/femnist/data "
               "(the folder holding train/ and test/)")


def _images(samples: list, where: str) -> np.ndarray:
    """LEAF's grey values (uint8 levels / 255, data_to_json.py) back to their exact uint8 levels:
    4x less memory than float32, so even full FEMNIST fits the training container."""
    try:
        x = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        x = None
    if x is None or x.ndim != 2 or x.shape[1] != PIXELS:
        got = "ragged lists" if x is None else f"shape {x.shape}"
        raise DataSourceError(f"femnist {where}: x must be lists of {PIXELS} grey values (28x28), got {got}")
    if not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
        raise DataSourceError(f"femnist {where}: grey values must lie in [0, 1] as LEAF writes them")
    levels = np.rint(x * 255)
    if np.abs(levels - x * 255).max() > 1e-6:
        raise DataSourceError(f"femnist {where}: grey values must be pixel levels / 255 as LEAF's data_to_json.py writes them")
    return levels.astype(np.uint8)


def _labels(labels: list, where: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= NUM_CLASSES:
        raise DataSourceError(f"femnist {where}: y must be integer class ids in [0, {NUM_CLASSES})")
    return y.astype(np.int64)


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare LEAF FEMNIST into `dest` from LEAF's data folder (`source`)."""
    num_clients = num_clients_option(options, "femnist")
    if download:
        raise DataSourceError(NO_DOWNLOAD)
    if source is None:
        raise DataSourceError("femnist needs --source: " + NO_DOWNLOAD)
    writer = PreparedWriter(dest, "femnist")
    provenance = write_leaf_sites(writer, Path(source), "femnist", num_clients, _images, _labels)
    provenance = {
        "dataset": "LEAF FEMNIST (Extended MNIST by writer; NIST SD19), LEAF JSON",
        "inputs": "x: uint8 (n, 784), 28x28 grey levels (LEAF value * 255, exact); y: int64 class ids 0-61",
        **provenance,
        "options": {"num_clients": num_clients},
    }
    return writer.commit(provenance)
