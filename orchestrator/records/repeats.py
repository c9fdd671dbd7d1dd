"""repeats.tsv and heldout.tsv: one row per (candidate, seed) rerun, appended durably (resumable)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from afr_box.orchestrator.errors import RecordError
from afr_box.orchestrator.records.files import atomic_write_text
from afr_box.orchestrator.records.status import Status
from afr_box.tasks.shared.text import safe_text

COLUMNS = ("candidate", "seed", "score", "status", "runtime_seconds", "image_id", "reason", "weights_sha256")
OLD_COLUMNS = COLUMNS[:-1]  # files written before the weights digest was recorded


@dataclass(frozen=True)
class Repeat:
    candidate: str
    seed: int
    score: Optional[float]
    status: Status
    runtime_seconds: float
    image_id: str
    reason: str = ""
    weights: str = ""           # the final weights' digest (score.json weights_sha256), "" when not scored

    def to_line(self) -> str:
        score = "" if self.score is None else repr(self.score)
        reason = safe_text(self.reason)
        return "\t".join([self.candidate, str(self.seed), score, self.status, f"{self.runtime_seconds:.1f}",
                          self.image_id, reason, self.weights]) + "\n"

    @classmethod
    def from_line(cls, line: str) -> "Repeat":
        cells = line.rstrip("\n").split("\t")
        c, seed, score, status, runtime, image, reason, *weights = cells
        if len(weights) > 1:
            raise ValueError(f"expected {len(COLUMNS)} tab-separated fields, got {len(cells)}")
        return cls(c, int(seed), float(score) if score else None, Status(status), float(runtime), image, reason,
                   weights[0] if weights else "")


def read_repeats(path: Path) -> list[Repeat]:
    if not path.is_file():
        return []
    lines = path.read_text().splitlines(keepends=True)
    if lines and lines[0].rstrip("\n").split("\t") not in (list(COLUMNS), list(OLD_COLUMNS)):
        raise RecordError(f"{path}:1: header is not the repeats columns {' '.join(COLUMNS)}")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            rows.append(Repeat.from_line(line))
        except ValueError as exc:
            raise RecordError(f"{path}:{lineno}: malformed row ({exc}); the file was edited by hand: "
                              "restore it, or delete the row to rerun that seed") from None
    return rows


def scores_by_candidate(path: Path) -> dict[str, dict[int, float]]:
    """The finite scores of a repeats-style file: candidate -> {seed: score}, in file order."""
    out: dict[str, dict[int, float]] = {}
    for r in read_repeats(path):
        if r.score is not None and not math.isnan(r.score):
            out.setdefault(r.candidate, {})[r.seed] = r.score
    return out


def weights_by_candidate(path: Path) -> dict[str, dict[int, str]]:
    """The scored reruns' weights digests: candidate -> {seed: weights_sha256}, where recorded."""
    out: dict[str, dict[int, str]] = {}
    for r in read_repeats(path):
        if r.score is not None and r.weights:
            out.setdefault(r.candidate, {})[r.seed] = r.weights
    return out


def append_repeat(path: Path, row: Repeat) -> None:
    text = path.read_text() if path.is_file() else "\t".join(COLUMNS) + "\n"
    if text.split("\n", 1)[0].split("\t") == list(OLD_COLUMNS):  # an older file gains the column
        text = "\n".join(["\t".join(COLUMNS)] + [line + "\t" if line else line for line in text.split("\n")[1:]])
    atomic_write_text(path, text + row.to_line())
