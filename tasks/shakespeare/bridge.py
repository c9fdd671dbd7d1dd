"""LEAF Shakespeare data bridge (fixed code): next-character prediction, users = speaking roles.

Reads the folder LEAF's preprocessing writes (leaf/data/shakespeare/data, holding train/ and
test/ JSON shards; paper setting `./preprocess.sh -s niid --sf 0.05 -k 64 -tf 0.9 -t sample`).
Every sample is x = an 80-character string, y = the character after it. Characters become ids
in LEAF's 80-letter alphabet (tasks/leaf_text.py), stored as x int64 (n, 80), y int64 (n,).

LEAF's split keeps each user's first 90% of samples for training and drops the 79 test samples
that overlap them, but writes the undropped count into the test files' num_samples: those
counts are not checked (x and y still must agree). Users are grouped into the profile's
clients by tasks/leaf.py (sorted ids, round-robin).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from afr_box.tasks.shared.formats.leaf import grouping_note, read_leaf
from afr_box.tasks.shared.formats.leaf_text import ALL_LETTERS, client_count, leaf_sites, letters_to_ids
from afr_box.tasks.shared.prepared import write_prepared
from afr_box.tasks.shared.sources import DataSourceError

SEQ_LEN = 80
SOURCE_HINT = ("no download: run LEAF's `./preprocess.sh -s niid --sf 0.05 -k 64 -tf 0.9 -t sample` in "
               "leaf/data/shakespeare, then afr-box data prepare shakespeare --source leaf/data/shakespeare/data")


def encode(xs: list, ys: list) -> tuple[np.ndarray, np.ndarray]:
    """LEAF samples -> (x int64 (n, 80), y int64 (n,)) character ids."""
    for i, (x, y) in enumerate(zip(xs, ys)):
        if not isinstance(x, str) or len(x) != SEQ_LEN or not isinstance(y, str) or len(y) != 1:
            raise DataSourceError(f"Shakespeare sample {i}: expected x an {SEQ_LEN}-character string and y one "
                                  f"character, got {type(x).__name__} of length {len(x)} and {y!r:.20}")
    x = np.asarray([letters_to_ids(s) for s in xs], dtype=np.int64).reshape(len(xs), SEQ_LEN)
    y = np.asarray(letters_to_ids("".join(ys)), dtype=np.int64)
    return x, y


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare LEAF Shakespeare from LEAF's data folder `source` into `dest`."""
    num_clients = client_count(options or {}, "shakespeare", ())
    if download or source is None:
        raise DataSourceError(f"shakespeare cannot be downloaded here; {SOURCE_HINT}")
    train, test, digests = read_leaf(Path(source), "shakespeare", check_num_samples=False)
    sites, groups = leaf_sites(train, test, num_clients, encode)
    provenance = {
        "dataset": "LEAF Shakespeare (next character; users = roles of plays)",
        "files": digests,
        "users_per_client": [len(g) for g in groups],
        "grouping": grouping_note(),
        "encoding": "x: 80 characters -> ids in LEAF's ALL_LETTERS; y: next character id",
        "alphabet": ALL_LETTERS,
        "split": "LEAF's own per-user train/test files, as given",
    }
    return write_prepared(dest, "shakespeare", sites, provenance)
