"""Verification after a candidate ran: proof of what changed, or a violation.

- each container's filesystem diff is empty outside tmpfs and /out;
- the prepared data still matches its manifest (sha256 of every file);
- the candidate image is the base plus exactly one layer, built on the recorded base;
- the surface inside the image hashes to the gated snapshot's hash.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from afr_box.sandbox.harness.paths import SURFACE
from afr_box.sandbox.provider import ImageInfo, RunResult
from afr_box.tasks.shared.hashing import hash_tree, tree_digest
from afr_box.tasks.shared.prepared import DataNotPreparedError, verify_prepared

if TYPE_CHECKING:
    from afr_box.orchestrator.pipeline.evaluate import Setup


def verify_candidate(setup: "Setup", image: ImageInfo, snapshot: Path, surface_hash: str,
                     results: dict[str, RunResult]) -> dict[str, Any]:
    checks: list[tuple[str, bool, str]] = []

    for phase, result in results.items():
        checks.append((f"fs_diff_{phase}", not result.fs_diff,
                       "no changes outside tmpfs and /out" if not result.fs_diff else "; ".join(result.fs_diff[:10])))
    try:
        # A held-out view is verified, with the prepared data it was split from, as it is resolved.
        if setup.eval_dir == setup.data_dir:
            verify_prepared(setup.data_dir)
        checks.append(("data_hashes", True, "prepared data matches its manifest"))
    except DataNotPreparedError as exc:
        checks.append(("data_hashes", False, str(exc)))

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
    return {"ok": not failed, "reason": "; ".join(f"{n}: {d}" for n, _, d in failed), "checks": checks}
