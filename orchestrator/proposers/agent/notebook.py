"""The campaign notebook: what every past candidate tried and how it went, for the agent to read.

Each conversation starts fresh (one per candidate, so `--resume` needs no agent state); the
notebook is its memory: every logged candidate (discarded, crashed and rejected ones
included) with its description, status, score, reason, the files it changed and their
mechanism class, and its diff against the baseline; and the candidates still running, so that
proposals made while they run (`--parallel N`) can be planned as a batch along other axes.
Changes are read from the snapshots (records/changes.py), never from descriptions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from afr_box.orchestrator.gate.surface import surface_diff
from afr_box.orchestrator.records.changes import change_between
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.runlog import Row
from afr_box.orchestrator.records.status import Status

SUMMARY_DIFF_LINES = 12
FULL_DIFF_LINES = 400


@dataclass(frozen=True)
class InFlight:
    """A candidate proposed and not logged yet (it is being built, trained or scored)."""

    candidate: str
    description: str
    snapshot: Path


def _diff_lines(record_dir: Path, snapshot: Path) -> list[str]:
    stored = record_dir / "surface.diff"
    if stored.is_file():
        return stored.read_text(errors="replace").splitlines()
    return surface_diff(snapshot).splitlines() if snapshot.is_dir() else []


def _entry(head: str, baseline: Path, snapshot: Path, diff: list[str], max_lines: int) -> list[str]:
    change = change_between(baseline, snapshot) if snapshot.is_dir() else None
    lines = [head]
    if change is not None:
        classes = ", ".join(change.classes) or "none"
        lines.append(f"    changed: {change.describe()} [mechanism: {classes}]")
    if diff and max_lines:
        shown = diff[:max_lines]
        lines += [f"    | {d}" for d in shown]
        if len(diff) > len(shown):
            lines.append(f"    | ... {len(diff) - len(shown)} more diff lines (read_notebook with candidate=...)")
    return lines


def notebook_text(campaign_dir: Path, rows: list[Row], in_flight: list[InFlight], baseline: Path,
                  candidate: Optional[str] = None) -> str:
    """The notebook; with `candidate`, that one entry with its whole diff."""
    folder = CampaignFolder(campaign_dir)
    out: list[str] = []
    max_lines = FULL_DIFF_LINES if candidate else SUMMARY_DIFF_LINES
    for row in rows:
        if candidate and row.candidate != candidate:
            continue
        if row.status == Status.LITERATURE:
            out.append(f"{row.candidate} literature event: {row.description}")
            continue
        record = folder.artifacts(row.artifacts)
        score = "" if row.score is None else f" {row.score:.6g}"
        why = f" ({row.reason})" if row.reason and row.status not in (Status.KEEP, Status.DISCARD) else ""
        head = f"{row.candidate} {row.status}{score}: {row.description}{why}"
        out += _entry(head, baseline, record.surface, _diff_lines(record.path, record.surface), max_lines)
    for item in in_flight:
        if candidate and item.candidate != candidate:
            continue
        head = f"{item.candidate} RUNNING now (no score yet): {item.description}"
        out += _entry(head, baseline, item.snapshot, surface_diff(item.snapshot).splitlines(), max_lines)
    if not out:
        return f"no candidate {candidate} in the notebook" if candidate else "the notebook is empty: nothing logged yet"
    return "\n".join(out)
