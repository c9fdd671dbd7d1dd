"""LEAF users grouped into the profile's clients, streamed into prepared sites (fixed code).

Shared by the LEAF image bridges (femnist, celeba). The shards are read one at a time
(`leaf.shard_users`); each user's raw LEAF samples are turned into arrays by the task's own
converters and spooled to disk beside the destination in the order read. Once every shard is
read, users are grouped (`leaf.group_users`: sorted by id, user k -> client k mod N) and each
client's site is written from the spool in user-id order. So preparing holds one shard and one
user's arrays in memory, whatever the number of writers or celebrities; the spool is removed.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from afr_box.tasks.shared.formats.leaf import group_users, grouping_note, shard_files, shard_users
from afr_box.tasks.shared.hashing import sha256_file
from afr_box.tasks.shared.prepared import PartWriter, PreparedWriter, SiteData, site_name
from afr_box.tasks.shared.progress import progress
from afr_box.tasks.shared.sources import DataSourceError

Converter = Callable[[list[Any], str], np.ndarray]
SPLITS = ("train", "test")
COPY_ROWS = 4096  # rows copied from the spool to a site at a time


def _spool(source: Path, what: str, folder: Path, convert_x: Converter, convert_y: Converter):
    """Every shard's users converted into folder/<split>/ (x.npy, y.npy, in reading order):
    split -> {user: (first row, rows)}, and the shards' sha256."""
    files = shard_files(source, what)
    progress().total(sum(len(v) for v in files.values()), sum(p.stat().st_size for v in files.values() for p in v),
                     "LEAF shards")
    where: dict[str, dict[str, tuple[int, int]]] = {}
    digests = {}
    for split in SPLITS:
        out, rows = PartWriter(folder / split, folder / split), 0
        users = where[split] = {}
        for path in files[split]:
            for user, x, y in shard_users(path):
                if user in users:  # LEAF never splits one user's samples across shards of one split
                    raise DataSourceError(f"{path}: user {user!r} appears in two files of the same split")
                label = f"user {user} {split}"
                if y:  # a user without samples in this split adds nothing
                    out.append(x=convert_x(x, label), y=convert_y(y, label))
                users[user] = (rows, len(y))
                rows += len(y)
            digests[f"{split}/{path.name}"] = sha256_file(path)
            progress().done(path.stat().st_size)
        if rows:
            out.close()
    return where, digests


def _copy(spool: Path, first: int, rows: int, out: PartWriter) -> None:
    """One user's rows from the spool to a site. The spool is mapped for this user only: the pages
    a mapping has touched count as the process's memory until it is unmapped, so one mapping kept
    for the whole copy grew prepare's peak RSS with the data (CelebA: 454 MiB at 20,000 images,
    859 MiB at 40,000)."""
    data = SiteData(spool)
    for start in range(first, first + rows, COPY_ROWS):
        batch = data.batch(np.arange(start, min(start + COPY_ROWS, first + rows)))
        out.append(x=batch["x"], y=batch["y"])


def write_leaf_sites(writer: PreparedWriter, source: Path, what: str, num_clients: int, convert_x: Converter,
                     convert_y: Converter) -> dict[str, Any]:
    """The N client sites of a LEAF data folder, streamed into `writer`; the provenance to record.

    `convert_x(samples, where)` / `convert_y(labels, where)` turn one user's raw LEAF x / y lists
    into arrays (checking them; `where` names the user and split for errors)."""
    with tempfile.TemporaryDirectory(dir=writer.staging.parent, prefix=f".{writer.staging.name}-spool-") as tmp:
        where, digests = _spool(Path(source), what, Path(tmp), convert_x, convert_y)
        train, test = where["train"], where["test"]
        missing = sorted(set(test) - set(train))
        if missing:  # LEAF's -t sample split keeps every user in train; -t user cannot be federated here
            raise DataSourceError(f"{what}: {len(missing)} test users have no training samples (e.g. {missing[0]!r}); "
                                  f"prepare LEAF's data with '-t sample' (each user's samples split 90/10), "
                                  f"as LEAF's models require")
        groups = group_users(train, num_clients)
        for c, users in enumerate(groups):
            for split in SPLITS:
                if not sum(where[split].get(u, (0, 0))[1] for u in users):
                    raise DataSourceError(f"{what}: client {c + 1} {split} has no samples (its users: {users[:3]}...); "
                                          f"use fewer clients than {num_clients}")
                out = writer.part(c, split)
                for user in users:
                    if user in where[split]:
                        _copy(Path(tmp) / split, *where[split][user], out)
                writer.close_part(c, split, out)
    return {
        "shards_sha256": digests,
        "users": len(train),
        "samples": {split: sum(n for _, n in where[split].values()) for split in SPLITS},
        "grouping": grouping_note(),
        "client_users": {site_name(c): users for c, users in enumerate(groups)},
    }


def num_clients_option(options: dict | None, what: str) -> int:
    """The only data option of a LEAF image bridge: num_clients (the profile's budget.clients)."""
    opts = dict(options or {})
    unknown = sorted(set(opts) - {"num_clients"})
    if unknown:
        raise ValueError(f"unknown {what} data option(s) {unknown}; the only option is num_clients (budget.clients)")
    if "num_clients" not in opts:
        raise ValueError(f"{what} needs num_clients (the profile's budget.clients)")
    return int(opts["num_clients"])
