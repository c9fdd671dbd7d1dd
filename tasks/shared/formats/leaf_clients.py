"""LEAF users grouped into the profile's clients, as prepared sites (fixed code).

Shared by the LEAF image bridges (femnist, celeba): read the shards with `leaf.read_leaf`,
group the users of train and test together with `leaf.group_users`, and turn each client's
raw LEAF samples into arrays with the task's own converters.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from afr_box.tasks.shared.formats.leaf import client_samples, group_users, grouping_note, read_leaf
from afr_box.tasks.shared.prepared import SiteSplit
from afr_box.tasks.shared.sources import DataSourceError

Converter = Callable[[list[Any], str], np.ndarray]


def leaf_sites(source: Path, what: str, num_clients: int, convert_x: Converter,
               convert_y: Converter) -> tuple[list[SiteSplit], dict[str, Any]]:
    """The N client sites of a LEAF data folder and the provenance to record with them.

    `convert_x(samples, where)` / `convert_y(labels, where)` turn one client's raw LEAF x / y
    lists into arrays (checking them; `where` names the client and split for errors)."""
    train, test, digests = read_leaf(source, what)
    missing = sorted(set(test.users()) - set(train.users()))
    if missing:  # LEAF's -t sample split keeps every user in train; -t user cannot be federated here
        raise DataSourceError(f"{what}: {len(missing)} test users have no training samples (e.g. {missing[0]!r}); "
                              f"prepare LEAF's data with '-t sample' (each user's samples split 90/10), "
                              f"as LEAF's models require")
    groups = group_users(train.users(), num_clients)
    sites = []
    for c, users in enumerate(groups):
        parts = []
        for split_name, split in (("train", train), ("test", test)):
            xs, ys = client_samples(split, users)
            where = f"client {c + 1} {split_name}"
            if not ys:
                raise DataSourceError(f"{what}: {where} has no samples (its users: {users[:3]}...); "
                                      f"use fewer clients than {num_clients}")
            parts += [convert_x(xs, where), convert_y(ys, where)]
        sites.append(SiteSplit(*parts))
    provenance = {
        "shards_sha256": digests,
        "users": len(train.users()),
        "samples": {"train": sum(len(v) for v in train.y.values()), "test": sum(len(v) for v in test.y.values())},
        "grouping": grouping_note(),
        "client_users": {f"site-{c + 1}": users for c, users in enumerate(groups)},
    }
    return sites, provenance


def num_clients_option(options: dict | None, what: str) -> int:
    """The only data option of a LEAF image bridge: num_clients (the profile's budget.clients)."""
    opts = dict(options or {})
    unknown = sorted(set(opts) - {"num_clients"})
    if unknown:
        raise ValueError(f"unknown {what} data option(s) {unknown}; the only option is num_clients (budget.clients)")
    if "num_clients" not in opts:
        raise ValueError(f"{what} needs num_clients (the profile's budget.clients)")
    return int(opts["num_clients"])
