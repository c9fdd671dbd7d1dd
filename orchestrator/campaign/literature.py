"""Literature events: non-scored `literature` rows in results.tsv, with their sources.

A literature event is what the agent did when the plateau watchdog fired: which papers or
URLs it used, what it takes from them, how long it took. It is logged as its own row
(status `literature`, no score, candidate id `L001`, `L002`, ...) with a record in
`literature/<id>/literature.json`; the candidates built on it carry `[src: ...]` in their
description. Both the built-in agent and `afr-box literature finish` log through here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from afr_box.orchestrator.records.layout import CampaignFolder, CandidateFolder
from afr_box.orchestrator.records.models import LiteratureRecord, save
from afr_box.orchestrator.records.runlog import Row, RunLog, utc_now
from afr_box.orchestrator.records.status import Status


def source_tag(sources: list[str]) -> str:
    return f" [src: {'; '.join(sources)}]" if sources else ""


def next_literature_id(rows: list[Row]) -> str:
    return f"L{sum(r.status == Status.LITERATURE for r in rows) + 1:03d}"


def log_literature(campaign_dir: Path, runlog: RunLog, *, task: str, policy: str, seed: int, budget: str,
                   proposer: str, sources: list[str], summary: str, elapsed_s: float,
                   extra: dict[str, Any] | None = None) -> Row:
    if not sources:
        raise ValueError("a literature event needs at least one source")
    lit_id = next_literature_id(runlog.rows())
    folder = CampaignFolder(campaign_dir).literature(lit_id)
    folder.mkdir(parents=True, exist_ok=True)
    row = Row(commit="", score=None, runtime_seconds=elapsed_s, budget=budget, status=Status.LITERATURE, target=task,
              description=f"literature: {summary}{source_tag(sources)}"[:600],
              artifacts=folder.relative_to(campaign_dir).as_posix(),
              candidate=lit_id, image_id="", surface_hash="", policy=policy, seed=seed, proposer=proposer,
              reason=f"{len(sources)} source(s), {elapsed_s:.0f} s")
    # The record first, then the row (as for candidates).
    save(LiteratureRecord(id=lit_id, sources=sources, summary=summary, elapsed_s=round(elapsed_s, 3),
                          proposer=proposer, logged_at=utc_now(), **(extra or {})), CandidateFolder(folder).literature)
    return runlog.append(row)
