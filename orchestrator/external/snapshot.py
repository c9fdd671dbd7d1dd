"""The workspace's surface, copied once into a private folder at the start of `try` and `check`.

Whatever the agent does to `surface/` afterwards (keeps editing, `workspace reset`, a loop that
rewrites a file), the candidate is the copy taken here. The copy is made the gate's way: listed
with lstat (links never followed, hardlinks and devices refused with the gate's own words) and
read with O_NOFOLLOW, so a refusal is the same answer the gate would give. The copy is bounded
(MAX_BYTES, far above any policy's limits, which the gate then applies), so a 10 GB file left in
`surface/` is refused, never read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from afr_box.orchestrator.gate.checks import check_limits, read_files, walk_snapshot
from afr_box.orchestrator.records.runlog import utc_now
from afr_box.policies.schema import SurfaceLimits

MAX_BYTES = 64 * 1024 * 1024  # a snapshot's bound, per file and in all (the gate's limits are far lower)
BOUND = SurfaceLimits(max_files=4096, max_file_bytes=MAX_BYTES, max_total_bytes=MAX_BYTES)
Refusal = tuple[str, str]  # (gate check, detail)


@dataclass(frozen=True)
class Snapshot:
    """A private copy of a workspace's surface: `folder` holds it; `refused` says why it could not
    be copied (then `folder` is empty and the candidate is a `rejected` row with that reason)."""

    folder: Path
    taken_at: str
    refused: Optional[Refusal] = None

    def tag(self) -> str:
        """What a candidate's description says about it (like `[src: ...]`)."""
        return f" [snapshot {self.taken_at}]"


def snapshot_surface(surface: Path, dest: Path, limits: SurfaceLimits = BOUND) -> Snapshot:
    """Copy the files of `surface` into the new folder `dest`, or say why not."""
    dest.mkdir(parents=True)
    taken_at = utc_now()
    (listed, detail), entries = walk_snapshot(surface)
    if not listed:
        return Snapshot(dest, taken_at, ("file-types", detail))
    within, detail = check_limits(entries, limits)
    if not within:
        return Snapshot(dest, taken_at, ("limits", detail))
    (read, detail), blobs = read_files(surface, entries, limits.max_file_bytes)
    if not read:
        return Snapshot(dest, taken_at, ("file-types", detail))
    for entry in entries:
        target = dest.joinpath(*entry.rel.split("/"))
        if entry.is_dir:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(blobs[entry.rel])
    return Snapshot(dest, taken_at)
