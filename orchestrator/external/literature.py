"""Literature events of an external agent: `afr-box literature start`, `finish`, `log`."""
from __future__ import annotations

import time
from typing import Optional

from afr_box.orchestrator.campaign.literature import log_literature
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.external.workspace import PROPOSER, Workspace
from afr_box.orchestrator.pipeline.review import budget_text
from afr_box.orchestrator.pipeline.watchdog import plateau_state
from afr_box.orchestrator.records.files import read_json, write_json
from afr_box.orchestrator.records.models import LiteratureRecord, load_or
from afr_box.orchestrator.records.runlog import Row, RunLog, utc_now
from afr_box.orchestrator.records.status import Status

LITERATURE_FILE = ".afr-literature.json"


def literature_start(ws: Workspace) -> str:
    state = ws.folder / LITERATURE_FILE
    if state.is_file():
        raise CampaignError("a literature event is already in progress; finish it first")
    write_json(state, {"started_at": utc_now(), "started_epoch": time.time()})
    return "literature event started: read, then `afr-box literature finish --source <paper or URL> -m \"...\"`"


def literature_finish(ws: Workspace, sources: list[str], summary: str) -> Row:
    state = ws.folder / LITERATURE_FILE
    if not state.is_file():
        raise CampaignError("no literature event in progress; start one with `afr-box literature start`")
    sources = [" ".join(s.split()) for s in sources if s.strip()]
    if not sources:
        raise CampaignError("a literature event needs at least one --source (paper or URL)")
    summary = " ".join(summary.split()) or "sources read"
    profile, policy, _ = ws.profile_policy()
    elapsed = max(0.0, time.time() - read_json(state)["started_epoch"])
    row = log_literature(ws.campaign_dir, RunLog(ws.campaign.results), task=profile.task,
                         policy=policy.name, seed=profile.budget.seed, budget=budget_text(profile), proposer=PROPOSER, sources=sources, summary=summary, elapsed_s=elapsed)
    state.unlink()
    return row


def literature_log(ws: Workspace) -> str:
    rows = [r for r in ws.rows() if r.status == Status.LITERATURE]
    if not rows:
        return "no literature events yet"
    out = []
    for r in rows:
        event = load_or(LiteratureRecord, ws.campaign.artifacts(r.artifacts).literature)
        out.append(f"{r.candidate} {r.finished_at} {r.runtime_seconds:.0f}s {r.description}")
        out += [f"    - {s}" for s in (event.sources if event else [])]
    return "\n".join(out)


def source_required(ws: Workspace, rows: list[Row]) -> Optional[str]:
    """Why the next `try` must cite a source (literature mode), or None: the plateau watchdog has
    fired, a literature event is in progress, or the last row is a literature event (the candidate
    built on it cites what it read)."""
    profile, _, _ = ws.profile_policy()
    state = plateau_state(rows, profile.plateau_threshold)
    if state.fired:
        return state.describe()
    if (ws.folder / LITERATURE_FILE).is_file():
        return "a literature event is in progress"
    if rows and rows[-1].status == Status.LITERATURE:
        return f"the last row is literature event {rows[-1].candidate}"
    return None
