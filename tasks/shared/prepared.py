"""The prepared-data layout shared by every task's data bridge (fixed code).

A prepared task folder keeps test labels apart from test inputs, and every site in a folder
of its own, so that each container is given only the part it may see:

    <root>/<task>/
        manifest.json               task, layout, sizes per site, sha256 of every file (deterministic)
        identity.json               size, inode, mtime_ns, ctime_ns of every file as prepared
        train/site-N/<name>.npy     x (or named inputs), y   -> training container (/data, read-only)
        train/assets/...            optional fixed files (e.g. pretrained weights) for training
        test_inputs/site-N/x.npy    inputs                   -> inference container (/data, read-only)
        test_labels/site-N/y.npy    y                        -> scorer container only (/labels, read-only)

One uncompressed `.npy` per array (no pickle), read memory-mapped and sliced per sample or batch
(`SiteData`), so a container's memory does not grow with the data: the pages it touches are page
cache, which the kernel may drop. Floats are stored as float32; integer and uint8 arrays keep their
dtype (token ids, images). Every array has one row per sample, except a ragged pair: `<name>`
holds the rows of all samples concatenated and `<name>_offsets` (n + 1 int64) where each sample
starts (bags of tiles of different lengths).

Bridges stream: `PreparedWriter` appends rows chunk by chunk to files whose .npy header is
rewritten in place when the part is closed (numpy leaves room for the first axis to grow), so no
bridge needs a whole site in memory. The folder is built beside its destination and renamed
into place only when complete: an interrupted prepare leaves no folder that passes verification.

Verification (`verify_full`, `verify_identity`) compares the files with the manifest: full
re-hashing (sha256, cost grows with the data) or identity (size, inode, mtime_ns, ctime_ns of
every file: cost grows with the number of files only; a write changes ctime even when mtime is
set back). Held-out views (`heldout_view`) are index files of row ids, applied by `SiteData`.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from afr_box.tasks.shared.errors import AfrError
from afr_box.tasks.shared.hashing import sha256_bytes, sha256_file

LAYOUT = "npy-1"            # the manifest's layout: one .npy per array, one folder per site
PARTS = ("train", "test_inputs", "test_labels")
MANIFEST = "manifest.json"
IDENTITY = "identity.json"   # stat identities at prepare time: kept out of the manifest, which stays deterministic
ASSETS = "assets"
OFFSETS = "_offsets"
LABEL = "y"


class DataNotPreparedError(AfrError, FileNotFoundError):
    """The task's prepared data folder is missing, incomplete, of an older layout, or changed.
    Run `afr-box data prepare <task>` (with --source or --download) first."""


def site_name(index: int) -> str:
    """NVFlare simulator client names: site-1 .. site-N."""
    return f"site-{index + 1}"


def _numeric(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise ValueError("inputs must be numeric arrays (no objects or strings: data is read without pickle)")
    return dtype


def _stored_dtype(dtype: np.dtype) -> np.dtype:
    dtype = _numeric(dtype)
    return np.dtype(np.float32) if dtype.kind == "f" else dtype


# ---------------------------------------------------------------- writing


class _GrowingNpy:
    """One .npy file grown by appending rows; its header is rewritten with the final row count on
    close (numpy pads every header so that the first axis can grow without moving the data)."""

    def __init__(self, path: Path, dtype: np.dtype, row_shape: tuple[int, ...]):
        self.path, self.dtype, self.row_shape, self.rows = path, dtype, row_shape, 0
        self.file = open(path, "wb")
        self._header((0,) + row_shape)
        self.data_start = self.file.tell()

    def _header(self, shape: tuple[int, ...]) -> None:
        np.lib.format.write_array_header_2_0(self.file, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                                                          "fortran_order": False, "shape": shape})

    def append(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {rows.shape[1:]}, expected {self.row_shape}")
        self.file.write(np.ascontiguousarray(rows, dtype=self.dtype).data)
        self.rows += len(rows)

    def close(self) -> None:
        self.file.seek(0)
        self._header((self.rows,) + self.row_shape)
        if self.file.tell() != self.data_start:  # never: the padding is numpy's own guarantee
            raise RuntimeError(f"{self.path}: the .npy header changed length when the shape grew")
        self.file.close()


class PartWriter:
    """One site's part (train or test) being written: `append(x=..., y=...)` adds samples.

    Every named array gets `n` rows per call (the same n for all); a ragged name (declared when
    the part is opened) takes a list of n samples of different lengths instead. Labels (`y`) of a
    test part go to test_labels/, everything else to test_inputs/."""

    def __init__(self, inputs: Path, labels: Path, ragged: Sequence[str] = ()):
        self.inputs, self.labels, self.ragged = inputs, labels, set(ragged)
        self.files: dict[str, _GrowingNpy] = {}
        self.offsets: dict[str, list[int]] = {name: [0] for name in self.ragged}
        self.samples = 0
        self.keys: Optional[set[str]] = None

    def _file(self, name: str, rows: np.ndarray) -> _GrowingNpy:
        if name not in self.files:
            if not name.isidentifier() or name.endswith(OFFSETS):
                raise ValueError(f"array name {name!r} must be a plain identifier not ending in {OFFSETS}")
            folder = self.labels if name == LABEL else self.inputs
            folder.mkdir(parents=True, exist_ok=True)
            # Labels keep their dtype (the metric sees what the bridge made); inputs are stored compact.
            dtype = _stored_dtype(rows.dtype) if name != LABEL else _numeric(rows.dtype)
            self.files[name] = _GrowingNpy(folder / f"{name}.npy", dtype, rows.shape[1:])
        return self.files[name]

    def append(self, **arrays: Union[np.ndarray, Sequence[np.ndarray]]) -> None:
        counts = {name: len(value) for name, value in arrays.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"input arrays disagree on the number of samples: {counts}")
        if self.keys is None:
            self.keys = set(arrays)
        elif set(arrays) != self.keys:
            raise ValueError(f"appended arrays {sorted(arrays)} differ from the part's {sorted(self.keys)}")
        for name, value in arrays.items():
            if name in self.ragged:
                for sample in value:
                    sample = np.asarray(sample)
                    self._file(name, sample).append(sample)
                    self.offsets[name].append(self.offsets[name][-1] + len(sample))
            else:
                value = np.asarray(value)
                self._file(name, value).append(value)
        self.samples += next(iter(counts.values()), 0)

    def close(self) -> int:
        if LABEL not in self.files:
            raise ValueError(f"{self.inputs}: no labels (y) were written")
        for name, offsets in self.offsets.items():
            if name in self.files:
                np.save(self.inputs / f"{name}{OFFSETS}.npy", np.asarray(offsets, dtype=np.int64), allow_pickle=False)
        for f in self.files.values():
            f.close()
        return self.samples


class PreparedWriter:
    """A prepared folder built in `<dest>.partial` and renamed to `dest` by `commit()`.

        writer = PreparedWriter(dest, "camelyon")
        part = writer.part(0, "train", ragged=("x",))
        part.append(x=[bag1, bag2], y=labels)        # as many times as needed
        writer.close_part(0, "train", part)
        writer.commit(provenance)

    Nothing passes verification before commit (the manifest is written last); a rerun starts the
    staging folder again."""

    def __init__(self, dest: Path, task: str):
        self.dest, self.task = Path(dest), task
        self.staging = self.dest.with_name(self.dest.name + ".partial")
        shutil.rmtree(self.staging, ignore_errors=True)
        for part in PARTS:
            (self.staging / part).mkdir(parents=True)
        self.sizes: dict[str, dict[str, int]] = {}

    def part(self, index: int, part: str, ragged: Sequence[str] = ()) -> PartWriter:
        site = site_name(index)
        if part == "train":
            folder = self.staging / "train" / site
            return PartWriter(folder, folder, ragged)
        if part == "test":
            return PartWriter(self.staging / "test_inputs" / site, self.staging / "test_labels" / site, ragged)
        raise ValueError(f"part must be train or test, got {part!r}")

    def close_part(self, index: int, part: str, writer: PartWriter) -> None:
        self.sizes.setdefault(site_name(index), {})[part] = writer.close()

    def site(self, index: int, split: "SiteSplit") -> None:
        """A whole site held in memory (small tasks): both parts written at once."""
        for part, x, y in (("train", split.x_train, split.y_train), ("test", split.x_test, split.y_test)):
            named = {"x": x} if isinstance(x, np.ndarray) else dict(x)
            ragged = [k for k in named if k + OFFSETS in named]
            arrays = {}
            for name, a in named.items():
                if name.endswith(OFFSETS):
                    continue
                if name in ragged:
                    off = named[name + OFFSETS]
                    arrays[name] = [a[int(off[i]):int(off[i + 1])] for i in range(len(off) - 1)]
                else:
                    arrays[name] = np.asarray(a)
            counts = {k: len(v) for k, v in arrays.items()}
            if len(set(counts.values())) != 1:
                raise ValueError(f"input arrays disagree on the number of samples: {sorted(set(counts.values()))}")
            if next(iter(counts.values())) != len(y):
                raise ValueError(f"{site_name(index)} {part}: {next(iter(counts.values()))} input samples but "
                                 f"{len(y)} labels")
            writer = self.part(index, part, ragged)
            writer.append(**arrays, y=np.asarray(y))
            self.close_part(index, part, writer)

    def asset(self, name: str, source: Path) -> None:
        """A fixed file the training container may read (train/assets/<name>)."""
        if Path(name).name != name or name.startswith("."):
            raise ValueError(f"asset name {name!r} must be a plain file name")
        (self.staging / "train" / ASSETS).mkdir(exist_ok=True)
        shutil.copyfile(source, self.staging / "train" / ASSETS / name)

    def commit(self, provenance: dict[str, Any]) -> Path:
        for p in self.staging.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        files = _data_files(self.staging)
        # Identity is taken after the last chmod; renaming the folder changes no file's identity.
        manifest = {"task": self.task, "layout": LAYOUT, "sites": self.sizes, "provenance": provenance,
                    "files": {rel: sha256_file(self.staging / rel) for rel in files}}
        identity = {rel: file_identity(self.staging / rel) for rel in files}
        (self.staging / IDENTITY).write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n")
        (self.staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for name in (IDENTITY, MANIFEST):
            os.chmod(self.staging / name, 0o644)
        if self.dest.exists():
            shutil.rmtree(self.dest)
        self.staging.rename(self.dest)
        os.chmod(self.dest, 0o755)
        return self.dest


@dataclass(frozen=True)
class SiteSplit:
    """One client's data held in memory (small tasks): training pair and test pair
    (inputs: `x` or named arrays, ragged pairs as `<name>` + `<name>_offsets`)."""

    x_train: Union[np.ndarray, Mapping[str, np.ndarray]]
    y_train: np.ndarray
    x_test: Union[np.ndarray, Mapping[str, np.ndarray]]
    y_test: np.ndarray


def write_prepared(dest: Path, task: str, sites: Iterable[SiteSplit], provenance: dict[str, Any],
                   assets: Optional[Mapping[str, Path]] = None) -> Path:
    """Write a prepared folder of in-memory sites (`sites` may be a generator: one site at a time)."""
    writer = PreparedWriter(dest, task)
    for i, split in enumerate(sites):
        writer.site(i, split)
    for name, source in (assets or {}).items():
        writer.asset(name, source)
    return writer.commit(provenance)


# ---------------------------------------------------------------- reading


class SiteData:
    """One site's part of the prepared data, read lazily: every array is memory-mapped, and only
    the samples asked for are copied into memory.

        site = SiteData(folder)            # or site_env.open_site(name) in a candidate
        len(site)                          # samples
        site.names                         # array names, e.g. ("x", "y")
        site.sample(i)                     # {"x": row i, "y": label i}; a ragged array gives sample i's rows
        site.batch(rows)                   # the given samples in that order: arrays of len(rows) rows,
                                           #   a ragged array a list of per-sample arrays
        site.batches(500)                  # consecutive batches over the whole site

    `rows` (index files of a held-out view) restricts the site to those row ids, in that order."""

    def __init__(self, folder: Path, rows: Optional[np.ndarray] = None, names: Optional[Iterable[str]] = None):
        """`names` limits the site to those array files (e.g. the inputs only)."""
        folder = Path(folder)
        files = sorted(folder.glob("*.npy")) if folder.is_dir() else []
        if not files:
            old = folder.with_name(folder.name + ".npz")
            hint = (" (an older layout, .npz): prepare it again with `afr-box data prepare`" if old.is_file()
                    else "; run `afr-box data prepare` first")
            raise DataNotPreparedError(f"no prepared arrays in {folder}{hint}")
        wanted = set(names) if names is not None else None
        self._arrays = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False) for p in files
                        if wanted is None or p.stem in wanted}  # `names`: these files only (offsets too)
        self.names = tuple(n for n in self._arrays if not n.endswith(OFFSETS))
        self._offsets = {n: np.asarray(self._arrays[n + OFFSETS]) for n in self.names if n + OFFSETS in self._arrays}
        counts = {n: (len(self._offsets[n]) - 1 if n in self._offsets else len(self._arrays[n])) for n in self.names}
        if len(set(counts.values())) != 1:
            raise DataNotPreparedError(f"{folder}: arrays disagree on the number of samples {counts}; prepare it again")
        self._stored = next(iter(counts.values()))
        self._rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        if self._rows is not None and len(self._rows) and (self._rows.min() < 0 or self._rows.max() >= self._stored):
            raise DataNotPreparedError(f"{folder}: row ids outside 0..{self._stored - 1}; build the view again")

    def __len__(self) -> int:
        return self._stored if self._rows is None else len(self._rows)

    def is_ragged(self, name: str) -> bool:
        return name in self._offsets

    def _stored_rows(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"sample ids must lie in 0..{len(self) - 1}")
        rows = rows % max(len(self), 1)
        return rows if self._rows is None else self._rows[rows]

    def _bag(self, name: str, r: int) -> np.ndarray:
        off = self._offsets[name]
        return np.array(self._arrays[name][int(off[r]):int(off[r + 1])])

    def sample(self, i: int) -> dict[str, np.ndarray]:
        r = int(self._stored_rows([i])[0])
        return {n: self._bag(n, r) if n in self._offsets else np.array(self._arrays[n][r]) for n in self.names}

    def batch(self, rows) -> dict[str, Any]:
        stored = self._stored_rows(rows)
        return {n: [self._bag(n, int(r)) for r in stored] if n in self._offsets else self._arrays[n][stored]
                for n in self.names}

    def batches(self, size: int) -> Iterator[dict[str, Any]]:
        for start in range(0, len(self), size):
            yield self.batch(np.arange(start, min(start + size, len(self))))

    def row_shape(self, name: str) -> tuple[int, ...]:
        """The shape of one row of `name` (of one tile, for a ragged array)."""
        return tuple(self._arrays[name].shape[1:])


# ---------------------------------------------------------------- verification


def file_identity(path: Path) -> dict[str, int]:
    st = os.stat(path)
    return {"size": st.st_size, "inode": st.st_ino, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


def _data_files(folder: Path) -> list[str]:
    """Every regular file under folder but the manifest and identity record, as relative POSIX
    paths; links refused."""
    found = []
    for p in sorted(Path(folder).rglob("*")):
        if p.is_symlink():
            raise DataNotPreparedError(f"{p} is a symbolic link; prepared data holds plain files only")
        if p.is_file() and p.relative_to(folder).as_posix() not in (MANIFEST, IDENTITY):
            found.append(p.relative_to(folder).as_posix())
    return found


def read_manifest(folder: Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise DataNotPreparedError(f"no prepared data at {folder} (missing {MANIFEST}); run "
                                   f"`afr-box data prepare {folder.name}` (with --source DIR or --download)")
    manifest = json.loads(path.read_text())
    if manifest.get("layout") != LAYOUT and "view_of" not in manifest:
        raise DataNotPreparedError(f"prepared data at {folder} has an older layout (one .npz per site, read whole); "
                                   f"prepare it again: `afr-box data prepare {manifest.get('task', folder.name)} ...`")
    return manifest


@dataclass
class DataCheck:
    """What a verification of a prepared folder did: `kind` full (sha256 of every byte) or identity
    (stat of every file), over how many files and bytes, in how long; `identity` is what it saw."""

    kind: str
    folder: str
    files: int
    bytes: int
    seconds: float
    identity: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        manifest = self.identity.get(MANIFEST)
        return {"kind": self.kind, "folder": self.folder, "files": self.files, "bytes": self.bytes,
                "seconds": round(self.seconds, 4),
                **({"manifest_sha256": manifest_digest(Path(self.folder))} if manifest else {})}


def _changed(folder: Path, what: str, names: Iterable[str]) -> DataNotPreparedError:
    names = sorted(names)
    return DataNotPreparedError(f"prepared data at {folder} does not match its {what} (changed: {names[:5]}"
                                f"{' ...' if len(names) > 5 else ''}); prepare it again with `afr-box data prepare`")


def verify_full(folder: Path) -> DataCheck:
    """Re-hash every file against the manifest (cost grows with the data: campaign start, --resume,
    audit, --verify-data full). Raises DataNotPreparedError on any difference."""
    folder = Path(folder)
    start = time.monotonic()
    manifest = read_manifest(folder)
    files = _data_files(folder)
    actual = {rel: sha256_file(folder / rel) for rel in files}
    if actual != manifest["files"]:
        raise _changed(folder, "manifest", {k for k, _ in set(actual.items()) ^ set(manifest["files"].items())})
    seen = {rel: file_identity(folder / rel) for rel in files + [MANIFEST]}
    return DataCheck("full", str(folder), len(seen), sum(i["size"] for i in seen.values()),
                     time.monotonic() - start, seen)


def verify_identity(folder: Path, reference: Mapping[str, Mapping[str, int]]) -> DataCheck:
    """Check that every file (manifest included) has the identity (size, inode, mtime_ns, ctime_ns)
    `reference` recorded (the last full check), and that no file came or went. Cost grows with the
    number of files only: the data is mounted read-only, so any change on the host shows in ctime."""
    folder = Path(folder)
    start = time.monotonic()
    try:
        seen = {rel: file_identity(folder / rel) for rel in _data_files(folder) + [MANIFEST]}
    except FileNotFoundError:
        raise DataNotPreparedError(f"prepared data at {folder} lost its manifest; prepare it again") from None
    if seen != dict(reference):
        raise _changed(folder, "identity at the last full check",
                       {k for k in set(seen) | set(reference) if seen.get(k) != reference.get(k)})
    return DataCheck("identity", str(folder), len(seen), sum(i["size"] for i in seen.values()),
                     time.monotonic() - start, seen)


def check_present(folder: Path) -> dict[str, Any]:
    """A cheap readiness check (a listing, not a hash): the manifest is of this layout and every
    file it lists is there with its recorded size. Returns the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    recorded = json.loads((folder / IDENTITY).read_text()) if (folder / IDENTITY).is_file() else {}
    sizes = {rel: i["size"] for rel, i in recorded.items()}
    missing = [rel for rel in manifest["files"] if not (folder / rel).is_file()
               or (rel in sizes and (folder / rel).stat().st_size != sizes[rel])]
    if missing:
        raise _changed(folder, "manifest", missing)
    return manifest


def verify_prepared(folder: Path) -> dict[str, Any]:
    """Full check of a prepared folder; returns its manifest."""
    verify_full(folder)
    return read_manifest(folder)


def manifest_digest(folder: Path) -> str:
    return sha256_bytes((Path(folder) / MANIFEST).read_bytes())


# ---------------------------------------------------------------- held-out views

HELDOUT_SEED = 20240917  # fixed: every campaign of a profile sees the same validation/held-out rows
VIEW_PARTS = {"test": "validation", "heldout": "heldout"}  # eval split -> index folder of a view


def heldout_view(folder: Path, fraction: float) -> Path:
    """A deterministic split of each site's test set into validation and held-out parts, as index
    files: `<task>.heldout-<fraction>/validation/site-N.npy` (what a campaign scores) and
    `heldout/site-N.npy` (scored only by `afr-box heldout`), sorted int64 row ids of the prepared
    test set. The inference and scorer containers apply them to the prepared inputs and labels
    (`SiteData(..., rows=)`): no input or label is ever copied. Rows are drawn per site with a
    fixed seed; the view is built once and rebuilt when the data is prepared again."""
    folder = Path(folder)
    source = read_manifest(folder)
    view = folder.with_name(f"{folder.name}.heldout-{fraction:g}")
    source_sha = manifest_digest(folder)
    if view.is_dir():
        try:
            verify_full(view)
            if read_manifest(view).get("source_manifest_sha256") == source_sha:
                return view
        except DataNotPreparedError:
            pass
        shutil.rmtree(view)  # the prepared data was prepared again, or the view is damaged: split again
    staging = view.with_name(view.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    for part in VIEW_PARTS.values():
        (staging / part).mkdir(parents=True)
    sizes = {}
    for i, site in enumerate(sorted(source["sites"])):
        n = int(source["sites"][site]["test"])
        order = np.random.default_rng([HELDOUT_SEED, i]).permutation(n)
        k = int(round(n * fraction))
        held, val = np.sort(order[:k]), np.sort(order[k:])
        np.save(staging / "validation" / f"{site}.npy", val.astype(np.int64), allow_pickle=False)
        np.save(staging / "heldout" / f"{site}.npy", held.astype(np.int64), allow_pickle=False)
        sizes[site] = {"validation": int(len(val)), "heldout": int(len(held))}
    for p in staging.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(staging, 0o755)
    files = _data_files(staging)
    manifest = {"task": source["task"], "view_of": folder.name, "heldout_fraction": fraction, "seed": HELDOUT_SEED,
                "sites": sizes, "source_manifest_sha256": source_sha,
                "files": {rel: sha256_file(staging / rel) for rel in files}}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    try:
        staging.rename(view)
    except OSError:  # another process built it first: theirs is identical
        shutil.rmtree(staging, ignore_errors=True)
    return view
