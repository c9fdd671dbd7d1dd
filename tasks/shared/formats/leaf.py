"""LEAF's on-disk format, shared by the LEAF data bridges (fixed code).

LEAF's preprocessing writes `<dataset>/data/train/*.json` and `<dataset>/data/test/*.json`;
every file is one JSON object

    {"users": [u, ...], "num_samples": [n_u, ...], "user_data": {u: {"x": [...], "y": [...]}},
     "hierarchies": [...]}         (hierarchies: optional)

A source folder here is the one holding `train/` and `test/` (LEAF's `data/`). A user may
appear in both (LEAF's per-user "sample" split) or in one (its "user" split). Users are
grouped into the profile's N clients deterministically: sorted by id, user k goes to client
k mod N, and a client's data is its users' data concatenated in id order.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from afr_box.tasks.shared.hashing import sha256_file
from afr_box.tasks.shared.sources import DataSourceError

SPLITS = ("train", "test")


@dataclass
class LeafSplit:
    """Per-user samples of one split, users in sorted order."""

    x: dict[str, list[Any]] = field(default_factory=dict)
    y: dict[str, list[Any]] = field(default_factory=dict)

    def users(self) -> list[str]:
        return sorted(self.x)


def shard_files(source: Path, what: str) -> dict[str, list[Path]]:
    """The JSON shards of train/ and test/ under `source`; a clear error when the layout is off."""
    source = Path(source)
    if not source.is_dir():
        raise DataSourceError(f"{what} source folder {source} does not exist; pass the LEAF data folder "
                              f"holding train/ and test/ (LEAF writes it to data/{what}/data)")
    found = {}
    for split in SPLITS:
        files = sorted((source / split).glob("*.json")) if (source / split).is_dir() else []
        if not files:
            raise DataSourceError(f"{what}: no LEAF JSON files in {source / split}; expected {split}/*.json "
                                  f"as LEAF's preprocessing writes them (e.g. ./preprocess.sh in leaf/data/{what})")
        found[split] = files
    return found


def shard_users(path: Path, check_num_samples: bool = True) -> list[tuple[str, list[Any], list[Any]]]:
    """(user, x, y) of every user of one LEAF JSON file, checked; one file in memory at a time."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataSourceError(f"{path}: not a readable LEAF JSON file ({exc})") from None
    if not isinstance(data, dict) or not {"users", "num_samples", "user_data"} <= set(data):
        raise DataSourceError(f"{path}: a LEAF file needs keys users, num_samples, user_data")
    if len(data["users"]) != len(data["num_samples"]):
        raise DataSourceError(f"{path}: {len(data['users'])} users but {len(data['num_samples'])} num_samples")
    for user, count in zip(data["users"], data["num_samples"]):
        record = data["user_data"].get(user)
        if not isinstance(record, dict) or "x" not in record or "y" not in record:
            raise DataSourceError(f"{path}: user {user!r} has no user_data with x and y")
        if len(record["x"]) != len(record["y"]) or (check_num_samples and len(record["y"]) != count):
            raise DataSourceError(f"{path}: user {user!r} has {len(record['x'])} x, {len(record['y'])} y, "
                                  f"num_samples {count}")
    return [(user, data["user_data"][user]["x"], data["user_data"][user]["y"]) for user in data["users"]]


def _read_shard(path: Path, split: LeafSplit, check_num_samples: bool = True) -> None:
    for user, x, y in shard_users(path, check_num_samples):
        if user in split.x:  # LEAF never splits one user's samples across shards of one split
            raise DataSourceError(f"{path}: user {user!r} appears in two files of the same split")
        split.x[user] = x
        split.y[user] = y


def read_leaf(source: Path, what: str, check_num_samples: bool = True) -> tuple[LeafSplit, LeafSplit, dict[str, str]]:
    """(train, test, {relative shard path: sha256}) from a LEAF data folder.

    `check_num_samples=False` for datasets whose LEAF files carry counts that differ from their
    samples: Shakespeare's test files (split_data.py drops the 79 samples overlapping the train
    part but records the undropped count) and Reddit (num_samples counts the user's comments of
    the unsplit data). x and y must still agree."""
    files = shard_files(source, what)
    splits = {name: LeafSplit() for name in SPLITS}
    digests = {}
    for name, paths in files.items():
        for path in paths:
            _read_shard(path, splits[name], check_num_samples)
            digests[f"{name}/{path.name}"] = sha256_file(path)
    return splits["train"], splits["test"], digests


def group_users(users: Iterable[str], num_clients: int) -> list[list[str]]:
    """Users (sorted by id) dealt round-robin into `num_clients` groups."""
    ordered = sorted(set(users))
    if not 1 <= num_clients <= len(ordered):
        raise DataSourceError(f"cannot group {len(ordered)} LEAF users into {num_clients} clients "
                              f"(need 1 <= clients <= users); lower budget.clients in the profile")
    return [ordered[c::num_clients] for c in range(num_clients)]


def client_samples(split: LeafSplit, users: list[str]) -> tuple[list[Any], list[Any]]:
    """The x and y of these users in this split, concatenated in user order."""
    xs, ys = [], []
    for user in users:
        xs.extend(split.x.get(user, []))
        ys.extend(split.y.get(user, []))
    return xs, ys


def grouping_note() -> str:
    return "LEAF users sorted by id, user k -> client k mod N; client data = its users' samples in id order"
