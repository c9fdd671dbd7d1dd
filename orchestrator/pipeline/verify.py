"""Verification after a candidate ran: proof of what changed, or a violation.

- each container's filesystem diff is empty outside tmpfs and /out;
- the prepared data (and its held-out view) is unchanged: by file identity (size, inode,
  mtime_ns, ctime_ns of every file: cost independent of the data size) against the campaign's
  last full re-hash, or re-hashed in full (`--verify-data full`, or without a campaign guard);
  the record says which check ran;
- the candidate image is the base plus exactly one layer, built on the recorded base;
- the surface inside the image hashes to the gated snapshot's hash.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from afr_box.sandbox.harness.paths import SURFACE
from afr_box.sandbox.provider import ImageInfo, RunResult
from afr_box.tasks.shared.hashing import hash_tree, tree_digest
from afr_box.tasks.shared.prepared import DataCheck, DataNotPreparedError, verify_full, verify_identity

if TYPE_CHECKING:
    from afr_box.orchestrator.pipeline.evaluate import Setup


VERIFY_MODES = ("identity", "full")


@dataclass
class DataGuard:
    """A campaign's prepared data folders (the data and its held-out view): re-hashed in full when
    the guard starts (campaign start, --resume), then checked after each candidate by identity
    against that full check, or re-hashed again when `mode` is "full" (`--verify-data full`)."""

    folders: tuple[Path, ...]
    mode: str = "identity"
    reference: dict[str, dict] = field(default_factory=dict)
    started: list[dict] = field(default_factory=list)  # the full checks the guard started with

    @classmethod
    def start(cls, folders: Iterable[Path], mode: str = "identity") -> "DataGuard":
        """Full re-hash of every folder; raises DataNotPreparedError when one does not match."""
        if mode not in VERIFY_MODES:
            raise ValueError(f"verify mode must be one of {VERIFY_MODES}, got {mode!r}")
        guard = cls(tuple(Path(f) for f in folders), mode)
        for folder in guard.folders:
            check = verify_full(folder)
            guard.reference[str(folder)] = check.identity
            guard.started.append(check.summary())
        return guard

    def check(self) -> list[DataCheck]:
        """The after-candidate check of every folder; raises DataNotPreparedError on a change."""
        done = []
        for folder in self.folders:
            if self.mode == "full":
                check = verify_full(folder)
                self.reference[str(folder)] = check.identity
            else:
                check = verify_identity(folder, self.reference[str(folder)])
            done.append(check)
        return done


def _data_check(setup: "Setup") -> tuple[tuple[str, bool, str], list[dict]]:
    guard = setup.data_guard
    folders = (setup.data_dir,) + ((setup.view,) if setup.view is not None else ())
    try:
        if guard is None:  # no campaign guard (a replay, a bench run): every file re-hashed
            done = [verify_full(f) for f in folders]
        else:
            done = guard.check()
    except DataNotPreparedError as exc:
        return ("data_unchanged", False, str(exc)), []
    kinds = sorted({c.kind for c in done})
    detail = (f"{'full re-hash' if kinds == ['full'] else 'identity (size, inode, mtime_ns, ctime_ns)'} of "
              f"{sum(c.files for c in done)} files ({sum(c.bytes for c in done) / 1e6:.1f} MB) unchanged in "
              f"{sum(c.seconds for c in done):.3f} s")
    return ("data_unchanged", True, detail), [c.summary() for c in done]


def verify_candidate(setup: "Setup", image: ImageInfo, snapshot: Path, surface_hash: str,
                     results: dict[str, RunResult]) -> dict[str, Any]:
    checks: list[tuple[str, bool, str]] = []

    for phase, result in results.items():
        checks.append((f"fs_diff_{phase}", not result.fs_diff,
                       "no changes outside tmpfs and /out" if not result.fs_diff else "; ".join(result.fs_diff[:10])))
    data_check, data_checks = _data_check(setup)
    checks.append(data_check)

    base_layers = setup.base.layers
    one_layer = image.layers[:len(base_layers)] == base_layers and len(image.layers) == len(base_layers) + 1
    checks.append(("image_layers", one_layer,
                   "base layers + one surface layer" if one_layer else f"{len(image.layers)} layers over a base of {len(base_layers)}"))
    labels_ok = image.labels.get("afr.base-id") == setup.base.id and image.labels.get("afr.surface-hash") == surface_hash
    checks.append(("image_labels", labels_ok, "labels name the recorded base and surface"))

    with tempfile.TemporaryDirectory() as tmp:
        extracted = setup.sandbox.images.copy_from_image(image.id, f"{SURFACE}/.", Path(tmp))
        in_image = tree_digest(hash_tree(extracted))
    checks.append(("surface_hash", in_image == surface_hash,
                   "image surface matches the gated snapshot" if in_image == surface_hash else f"image surface {in_image[:16]} != {surface_hash[:16]}"))

    failed = [c for c in checks if not c[1]]
    return {"ok": not failed, "reason": "; ".join(f"{n}: {d}" for n, _, d in failed), "checks": checks,
            "data_checks": data_checks}
