"""The prepared-data layout shared by every task's data bridge (fixed code).

A prepared task folder keeps test labels apart from test inputs, so that each container
is given only the part it may see:

    <root>/<task>/
        manifest.json             task, sizes per site, sha256 of every file, provenance
        train/site-N.npz          x, y       -> training container (/data, read-only)
        test_inputs/site-N.npz    x          -> inference container (/data, read-only)
        test_labels/site-N.npz    y          -> scorer container only (/labels, read-only)

Arrays are stored with numpy's npz (no pickle): inputs `x` float32, labels `y` as the
bridge defines them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from afr_box.sandbox.hashing import hash_tree

PARTS = ("train", "test_inputs", "test_labels")
MANIFEST = "manifest.json"


class DataNotPreparedError(FileNotFoundError):
    """The task's prepared data folder is missing or incomplete.
    Run `afr-box data prepare <task>` (with --source or --download) first."""


@dataclass(frozen=True)
class SiteSplit:
    """One client's data: training pair and test pair."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def site_name(index: int) -> str:
    """NVFlare simulator client names: site-1 .. site-N."""
    return f"site-{index + 1}"


def write_prepared(dest: Path, task: str, sites: Sequence[SiteSplit], provenance: dict[str, Any]) -> Path:
    """Write a prepared folder atomically (built beside dest, then renamed into place)."""
    dest = Path(dest)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for part in PARTS:
        (staging / part).mkdir(parents=True)
    sizes = {}
    for i, s in enumerate(sites):
        name = site_name(i)
        np.savez(staging / "train" / f"{name}.npz", x=s.x_train.astype(np.float32), y=s.y_train)
        np.savez(staging / "test_inputs" / f"{name}.npz", x=s.x_test.astype(np.float32))
        np.savez(staging / "test_labels" / f"{name}.npz", y=s.y_test)
        sizes[name] = {"train": int(len(s.y_train)), "test": int(len(s.y_test))}
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
        x = load_npz(folder / "test_inputs" / f"{site}.npz")["x"]
        y = load_npz(folder / "test_labels" / f"{site}.npz")["y"]
        order = np.random.default_rng([HELDOUT_SEED, i]).permutation(len(y))
        k = int(round(len(y) * fraction))
        held, val = np.sort(order[:k]), np.sort(order[k:])
        np.savez(staging / "test_inputs" / f"{site}.npz", x=x[val])
        np.savez(staging / "test_labels" / f"{site}.npz", y=y[val])
        np.savez(staging / "heldout_inputs" / f"{site}.npz", x=x[held])
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
