"""The prepared-data layout shared by every task's data bridge (fixed code).

A prepared task folder keeps test labels apart from test inputs, so that each container
is given only the part it may see:

    <root>/<task>/
        manifest.json             task, sizes per site, sha256 of every file, provenance
        train/site-N.npz          x, y       -> training container (/data, read-only)
        train/assets/...          optional fixed files (e.g. pretrained weights) for training
        test_inputs/site-N.npz    x          -> inference container (/data, read-only)
        test_labels/site-N.npz    y          -> scorer container only (/labels, read-only)

Arrays are stored with numpy's npz (no pickle). Inputs are `x` or several named arrays
(a bridge passes a dict); floats are stored as float32, integer and uint8 arrays keep their
dtype (token ids, images). Every input array has one row per sample, except a ragged pair:
`<name>` holds the rows of all samples concatenated and `<name>_offsets` (n + 1 int64) where
each sample starts (bags of tiles of different lengths). Labels `y` are as the bridge defines them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from afr_box.tasks.shared.errors import AfrError
from afr_box.tasks.shared.hashing import hash_tree

PARTS = ("train", "test_inputs", "test_labels")
MANIFEST = "manifest.json"


class DataNotPreparedError(AfrError, FileNotFoundError):
    """The task's prepared data folder is missing or incomplete.
    Run `afr-box data prepare <task>` (with --source or --download) first."""


Inputs = Union[np.ndarray, Mapping[str, np.ndarray]]
OFFSETS = "_offsets"


@dataclass(frozen=True)
class SiteSplit:
    """One client's data: training pair and test pair (inputs: `x` or named arrays)."""

    x_train: Inputs
    y_train: np.ndarray
    x_test: Inputs
    y_test: np.ndarray


def _stored(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    return array.astype(np.float32) if array.dtype.kind == "f" else array


def input_arrays(x: Inputs) -> dict[str, np.ndarray]:
    """Named input arrays as stored (a bare array is `x`)."""
    named = {"x": x} if isinstance(x, np.ndarray) else dict(x)
    if any(np.asarray(a).dtype.kind not in "biuf" for a in named.values()):
        raise ValueError("inputs must be numeric arrays (no objects or strings: npz is read without pickle)")
    return {k: _stored(v) for k, v in named.items()}


def num_samples(arrays: Mapping[str, np.ndarray]) -> int:
    """Samples in a set of input (or label) arrays; every array must agree."""
    counts = set()
    for name, a in arrays.items():
        if name.endswith(OFFSETS):
            counts.add(len(a) - 1)
        elif name + OFFSETS not in arrays:
            counts.add(len(a))
    if len(counts) != 1:
        raise ValueError(f"input arrays disagree on the number of samples: {sorted(counts)}")
    return counts.pop()


def sample(arrays: Mapping[str, np.ndarray], name: str, i: int) -> np.ndarray:
    """Sample i of array `name` (a slice of a ragged array, a row otherwise)."""
    offsets = arrays.get(name + OFFSETS)
    if offsets is None:
        return arrays[name][i]
    return arrays[name][int(offsets[i]):int(offsets[i + 1])]


def take_samples(arrays: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The given samples (in that order) of a set of arrays, ragged pairs included."""
    rows = np.asarray(rows, dtype=np.int64)
    out = {}
    for name, a in arrays.items():
        if name.endswith(OFFSETS):
            continue
        offsets = arrays.get(name + OFFSETS)
        if offsets is None:
            out[name] = a[rows]
            continue
        lengths = (offsets[1:] - offsets[:-1])[rows]
        parts = [a[int(offsets[r]):int(offsets[r + 1])] for r in rows]
        out[name] = np.concatenate(parts) if parts else a[:0]
        out[name + OFFSETS] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return out


def site_name(index: int) -> str:
    """NVFlare simulator client names: site-1 .. site-N."""
    return f"site-{index + 1}"


def write_prepared(dest: Path, task: str, sites: Sequence[SiteSplit], provenance: dict[str, Any],
                   assets: Optional[Mapping[str, Path]] = None) -> Path:
    """Write a prepared folder atomically (built beside dest, then renamed into place).

    `assets` (name -> file) are copied into train/assets/: fixed files the training container
    may read, such as pretrained weights given by the user."""
    dest = Path(dest)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for part in PARTS:
        (staging / part).mkdir(parents=True)
    sizes = {}
    for i, s in enumerate(sites):
        name = site_name(i)
        train, test = input_arrays(s.x_train), input_arrays(s.x_test)
        for part, arrays, labels in (("train", train, s.y_train), ("test", test, s.y_test)):
            if num_samples(arrays) != len(labels):
                raise ValueError(f"{name} {part}: {num_samples(arrays)} input samples but {len(labels)} labels")
        np.savez(staging / "train" / f"{name}.npz", **train, y=s.y_train)
        np.savez(staging / "test_inputs" / f"{name}.npz", **test)
        np.savez(staging / "test_labels" / f"{name}.npz", y=s.y_test)
        sizes[name] = {"train": int(len(s.y_train)), "test": int(len(s.y_test))}
    for asset, source in (assets or {}).items():
        if Path(asset).name != asset or asset.startswith("."):
            raise ValueError(f"asset name {asset!r} must be a plain file name")
        (staging / "train" / "assets").mkdir(exist_ok=True)
        shutil.copyfile(source, staging / "train" / "assets" / asset)
    manifest = {
        "task": task,
        "sites": sizes,
        "provenance": provenance,
        "files": hash_tree(staging),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for p in staging.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    os.chmod(dest, 0o755)
    return dest


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise DataNotPreparedError(f"no prepared data at {folder} (missing {MANIFEST}); run "
                                   f"`afr-box data prepare {Path(folder).name}` (with --source DIR or --download)")
    return json.loads(path.read_text())


def verify_prepared(folder: Path) -> dict[str, Any]:
    """Check every file against the manifest; return the manifest. Raises on any mismatch."""
    manifest = read_manifest(folder)
    actual = hash_tree(Path(folder))
    actual.pop(MANIFEST, None)
    if actual != manifest["files"]:
        changed = sorted(set(actual.items()) ^ set(manifest["files"].items()))
        raise DataNotPreparedError(f"prepared data at {folder} does not match its manifest (changed: "
                                   f"{sorted({c[0] for c in changed})[:5]}); prepare it again with `afr-box data prepare`")
    return manifest


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


HELDOUT_SEED = 20240917  # fixed: every campaign of a profile sees the same validation/held-out rows


def heldout_view(folder: Path, fraction: float) -> Path:
    """A deterministic split of each site's test set into validation and held-out parts.

    Built once beside the prepared folder (`<task>.heldout-<fraction>/`, with its own manifest):
    `test_inputs/` and `test_labels/` hold the validation rows (what a campaign scores),
    `heldout_inputs/` and `heldout_labels/` the rest (scored only by `afr-box heldout`). The
    prepared folder itself is never changed. Rows are drawn per site with a fixed seed."""
    folder = Path(folder)
    source = verify_prepared(folder)
    view = folder.with_name(f"{folder.name}.heldout-{fraction:g}")
    source_sha = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
    if view.is_dir():
        manifest = verify_prepared(view)
        if manifest.get("source_manifest_sha256") == source_sha:
            return view
        shutil.rmtree(view)  # the prepared data was prepared again: split it again
    staging = view.with_name(view.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    for part in ("test_inputs", "test_labels", "heldout_inputs", "heldout_labels"):
        (staging / part).mkdir(parents=True)
    sizes = {}
    for i, site in enumerate(sorted(source["sites"])):
        inputs = load_npz(folder / "test_inputs" / f"{site}.npz")
        y = load_npz(folder / "test_labels" / f"{site}.npz")["y"]
        order = np.random.default_rng([HELDOUT_SEED, i]).permutation(len(y))
        k = int(round(len(y) * fraction))
        held, val = np.sort(order[:k]), np.sort(order[k:])
        np.savez(staging / "test_inputs" / f"{site}.npz", **take_samples(inputs, val))
        np.savez(staging / "test_labels" / f"{site}.npz", y=y[val])
        np.savez(staging / "heldout_inputs" / f"{site}.npz", **take_samples(inputs, held))
        np.savez(staging / "heldout_labels" / f"{site}.npz", y=y[held])
        sizes[site] = {"validation": int(len(val)), "heldout": int(len(held))}
    manifest = {"task": source["task"], "heldout_fraction": fraction, "seed": HELDOUT_SEED, "sites": sizes,
                "source_manifest_sha256": source_sha, "files": hash_tree(staging)}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for p in staging.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(staging, 0o755)
    try:
        staging.rename(view)
    except OSError:  # another process built it first: theirs is identical
        shutil.rmtree(staging, ignore_errors=True)
    return view
