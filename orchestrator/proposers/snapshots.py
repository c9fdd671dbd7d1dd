"""Replays prepared surface snapshots as candidates (scripted studies, tests, external tools).

    DIR/<name>/surface/...          the complete surface snapshot (surface paths: heart/knobs.yaml, shared/...)
    DIR/<name>/description.txt      optional one-line description

Snapshots are taken in sorted name order: candidate 1 is the first, candidate 2 the second...
"""
from __future__ import annotations

from pathlib import Path

from afr_box.orchestrator.errors import ProposerError
from afr_box.orchestrator.pipeline.proposal import Proposal


class SnapshotsProposer:
    name = "snapshots"

    def __init__(self, folder: Path):
        self.entries = sorted(p for p in Path(folder).iterdir() if p.is_dir()) if Path(folder).is_dir() else []
        if not self.entries:
            raise ProposerError(f"no snapshot folders under {folder} (expected {folder}/<name>/surface/...)")
        for entry in self.entries:
            if not (entry / "surface").is_dir():
                raise ProposerError(f"--snapshots: {entry} has no surface/ folder (expected {entry}/surface/...)")

    def __len__(self) -> int:
        return len(self.entries)

    def propose(self, index: int, workspace: Path, history=None) -> Proposal:
        if not 1 <= index <= len(self.entries):
            raise IndexError(f"only {len(self.entries)} snapshots, asked for candidate {index}")
        entry = self.entries[index - 1]
        desc_file = entry / "description.txt"
        desc = desc_file.read_text().strip().splitlines()[0] if desc_file.is_file() else entry.name
        return Proposal(snapshot=entry / "surface", description=desc, proposer=self.name)
