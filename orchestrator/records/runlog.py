"""The campaign run log `results.tsv`: one row per candidate outcome, append-only, crash-safe.

The AFR reference columns come first so that the paper's tools read the file unchanged;
afr-box's own columns follow. Every append rewrites the whole file through a temp file and
`os.replace`, so a kill -9 at any moment leaves either the old or the new complete file,
never a torn line. The log is meant to have a single writer (the campaign loop).

The last column chains the rows: each row's `chain` is the sha256 of the previous row's chain
and this row's other cells, so editing, inserting or deleting a row by hand breaks the chain
where it happened (`afr-box audit` reports it). It is tamper-evidence against edits, not a
signature: someone who rewrites every later chain value too is caught only by the candidate
records the audit compares the rows with.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from afr_box.orchestrator.records.files import atomic_write_text
from afr_box.orchestrator.records.status import FAILED, ROW_STATUSES, Status
from afr_box.tasks.shared.errors import AfrError
from afr_box.tasks.shared.text import safe_text

AFR_COLUMNS = ("commit", "score", "runtime_seconds", "budget", "status", "target",
               "description", "artifacts")
BOX_COLUMNS = ("candidate", "image_id", "surface_hash", "policy", "seed", "proposer",
               "reason", "finished_at", "chain")
COLUMNS = AFR_COLUMNS + BOX_COLUMNS
HEADER = "\t".join(COLUMNS) + "\n"
# The reason of a crash row whose proposer gave no candidate (an agent: no image was built), and of
# one that failed in literature mode. Such rows cost no candidate of --max-candidates; the second
# kind also resets the plateau watchdog (the agent went to the literature and came back empty).
PROPOSAL_FAILED = "proposer: "
LITERATURE_FAILED = PROPOSAL_FAILED + "literature mode: "


class RunLogError(AfrError, ValueError):
    """results.tsv is not what this module writes (bad header or malformed line): it was edited by
    hand or by another tool. The message names the line; restore the file or start a new campaign."""


def utc_now() -> str:
    """ISO-8601 UTC timestamp, second precision (e.g. 2025-01-01T12:00:00Z)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Row:
    """One results.tsv line. Field order is the column order."""

    commit: str                 # short surface hash (12 hex): the candidate's content id
    score: Optional[float]      # metric value; None when not scored
    runtime_seconds: float      # end-to-end seconds, rounded to 0.1
    budget: str                 # e.g. "rounds=15 clients=4 steps<=250"
    status: Status              # one of ROW_STATUSES
    target: str                 # task name
    description: str            # one line (safe_text: bounded, no control characters)
    artifacts: str              # candidate record folder, relative, e.g. "candidates/0003"
    candidate: str              # candidate id, e.g. "0003"
    image_id: str               # docker image id (sha256:...), empty when never built
    surface_hash: str           # full sha256 of the surface snapshot
    policy: str                 # policy name
    seed: int
    proposer: str               # baseline / hpo / claude / ...
    reason: str = ""            # gate reason, crash summary, violation reason, review note
    finished_at: str = field(default_factory=utc_now)
    chain: str = ""             # sha256(previous row's chain + this row); set by RunLog.append

    def __post_init__(self) -> None:
        if self.status not in ROW_STATUSES:
            raise ValueError(f"status {self.status!r} not in {tuple(map(str, ROW_STATUSES))}")
        object.__setattr__(self, "status", Status(self.status))
        for f in fields(self):  # one line each (a tab or a break would split the TSV), bounded, inert
            value = getattr(self, f.name)
            if isinstance(value, str):
                object.__setattr__(self, f.name, safe_text(value))
        if self.score is not None:
            object.__setattr__(self, "score", float(self.score))
        # The log keeps 1 decimal; round here so a Row equals its own round trip.
        object.__setattr__(self, "runtime_seconds", round(float(self.runtime_seconds), 1))
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def scored(self) -> bool:
        """A finite score from a row whose run was not a failure."""
        return (self.score is not None and math.isfinite(self.score)
                and self.status not in FAILED)

    def to_line(self) -> str:
        cells = {f.name: getattr(self, f.name) for f in fields(self)}
        # repr keeps every digit of the float, so the log round-trips exactly.
        cells["score"] = "" if self.score is None else repr(self.score)
        cells["runtime_seconds"] = f"{self.runtime_seconds:.1f}"
        cells["seed"] = str(self.seed)
        return "\t".join(str(cells[c]) for c in COLUMNS) + "\n"

    def chained_to(self, previous: str) -> str:
        """This row's chain value after a row whose chain is `previous` ('' for the first row)."""
        body = replace(self, chain="").to_line()
        return hashlib.sha256(f"{previous}\n{body}".encode("utf-8")).hexdigest()

    @classmethod
    def from_line(cls, line: str) -> "Row":
        cells = line.rstrip("\n").split("\t")
        if len(cells) != len(COLUMNS):
            raise ValueError(f"expected {len(COLUMNS)} tab-separated fields, got {len(cells)}")
        kw: dict = dict(zip(COLUMNS, cells))
        kw["score"] = float(kw["score"]) if kw["score"] else None
        kw["runtime_seconds"] = float(kw["runtime_seconds"])
        kw["seed"] = int(kw["seed"])
        return cls(**kw)


def proposal_failed(row: Row) -> bool:
    """A crash row for a proposal that never became a candidate (no image)."""
    return row.status == Status.CRASH and not row.image_id and row.reason.startswith(PROPOSAL_FAILED)


def baseline_row(rows: list[Row]) -> Optional[Row]:
    """The baseline: the row its proposer marks as such, else the log's first row."""
    for row in rows:
        if row.proposer == "baseline":
            return row
    return rows[0] if rows else None


def best_row(rows: list[Row], higher_is_better: bool) -> Optional[Row]:
    """Best scored row among `keep` rows and the baseline (kept by definition).

    Ties go to the earlier row, so a later equal score never displaces the incumbent.
    """
    base = baseline_row(rows)
    pool = [r for r in rows if r.scored and (r.status == Status.KEEP or r is base)]
    best: Optional[Row] = None
    for row in pool:
        if best is None or (row.score > best.score if higher_is_better
                            else row.score < best.score):
            best = row
    return best


class RunLog:
    """Reads and appends `results.tsv` at `path`."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def append(self, row: Row) -> Row:
        """Add one row durably (whole new file -> temp file -> fsync -> os.replace), chained to
        the last row; returns the row as logged."""
        old = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        rows = self._parse(old)
        row = replace(row, chain=row.chained_to(rows[-1].chain if rows else ""))
        if not old:
            old = HEADER
        elif not old.endswith("\n"):
            old += "\n"
        atomic_write_text(self.path, old + row.to_line())
        return row

    def chain_breaks(self) -> list[tuple[int, Row, str]]:
        """(line number, row, why) for every row whose chain value does not follow from the row
        before it and its own cells: the place of a hand edit, insertion or deletion."""
        breaks, previous = [], ""
        for lineno, row in enumerate(self.rows(), start=2):
            if row.chain != row.chained_to(previous):
                breaks.append((lineno, row, "its cells or its place in the log changed after it was logged "
                                            "(an edited row, or a row before it deleted or inserted)"))
            previous = row.chain
        return breaks

    def rows(self) -> list[Row]:
        """All rows in file order; [] for a missing or empty file."""
        if not self.path.exists():
            return []
        return self._parse(self.path.read_text(encoding="utf-8"))

    def _parse(self, text: str) -> list[Row]:
        lines = text.splitlines(keepends=True)
        if not lines:
            return []
        if lines[0].rstrip("\n").split("\t") != list(COLUMNS):
            raise RunLogError(f"{self.path}:1: header does not match the results.tsv columns "
                              f"{' '.join(COLUMNS)}")
        out = []
        for lineno, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            try:
                out.append(Row.from_line(line))
            except (ValueError, TypeError) as exc:
                raise RunLogError(f"{self.path}:{lineno}: malformed row: {exc}") from exc
        return out

    def done_candidates(self) -> set[str]:
        """Candidate ids with a final outcome; a `candidate` (not yet reviewed) row is not one."""
        return {r.candidate for r in self.rows() if r.status != Status.CANDIDATE}

    def best(self, higher_is_better: bool) -> Optional[Row]:
        """See `best_row`."""
        return best_row(self.rows(), higher_is_better)
