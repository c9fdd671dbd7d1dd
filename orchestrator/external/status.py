"""`afr-box status`: best so far, recent rows, the plateau watchdog and the agent's totals (tokens,
cost, requests, tool calls) of a workspace's campaign, or of a campaign folder."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.external.literature import LITERATURE_FILE
from afr_box.orchestrator.external.workspace import Workspace
from afr_box.orchestrator.pipeline.watchdog import PlateauState, plateau_state
from afr_box.orchestrator.records.agent_usage import agent_totals
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, load
from afr_box.orchestrator.records.runlog import RunLog, best_row
from afr_box.orchestrator.records.status import FAILED
from afr_box.profiles.schema import Profile, load_profile


def plateau(ws: Workspace) -> PlateauState:
    profile, _, _ = ws.profile_policy()
    return plateau_state(ws.rows(), profile.plateau_threshold)


def status_data(ws: Workspace, last: int = 10) -> dict[str, Any]:
    """The workspace's campaign in numbers (what `status` prints, and `status --json` gives)."""
    profile, _, _ = ws.profile_policy()
    return campaign_status(ws.campaign_dir, profile, last, (ws.folder / LITERATURE_FILE).is_file(),
                           ws.meta.max_candidates)


def campaign_folder_status(campaign_dir: Path, last: int = 10) -> dict[str, Any]:
    """A campaign folder's status without a workspace (a built-in agent's campaign), by its own profile."""
    folder = CampaignFolder(Path(campaign_dir).resolve())
    if not folder.is_campaign():
        raise CampaignError(f"{folder.path} is not a campaign folder (no campaign.json)")
    meta = load(CampaignMeta, folder.meta)
    return campaign_status(folder.path, load_profile(folder.profile), last, False, meta.max_candidates)


def campaign_status(campaign_dir: Path, profile: Profile, last: int, literature_in_progress: bool,
                    max_candidates: Optional[int] = None) -> dict[str, Any]:
    rows = RunLog(CampaignFolder(campaign_dir).results).rows()
    best = best_row(rows, profile.metric.higher_is_better)
    watch = plateau_state(rows, profile.plateau_threshold)
    totals = agent_totals(campaign_dir)
    return {
        "campaign": campaign_dir.name, "folder": str(campaign_dir), "task": profile.task,
        "metric": profile.metric.name, "rows": len(rows),
        "best": None if best is None else {"candidate": best.candidate, "score": best.score,
                                           "description": best.description},
        "plateau": {"since_progress": watch.since_progress, "threshold": watch.threshold, "fired": watch.fired,
                    "text": watch.describe()},
        "literature_in_progress": literature_in_progress,
        "agent": None if totals is None else {**totals.as_dict(), "text": totals.describe()},
        "candidates": {"logged": sum(r.candidate.isdigit() for r in rows), "max": max_candidates},
        "recent": [{"candidate": r.candidate, "status": str(r.status), "score": r.score, "description": r.description,
                    "reason": r.reason if r.status in FAILED else ""} for r in rows[-last:]],
    }


def status_text(data: dict[str, Any]) -> str:
    lines = [f"campaign {data['campaign']} (task {data['task']}, {data['rows']} rows): {data['folder']}"]
    best = data["best"]
    if best is None:
        lines.append("best: none yet (the first `afr-box try` runs the baseline first)")
    else:
        lines.append(f"best: {best['candidate']} {data['metric']} {best['score']:.4f}  {best['description']}")
    lines.append(data["plateau"]["text"])
    budget = data["candidates"]
    lines.append(f"candidates: {budget['logged']} logged" + (f" of {budget['max']} ({budget['max'] - budget['logged']} left)"
                                                            if budget["max"] else " (no cap)"))
    if data["agent"]:
        lines.append(data["agent"]["text"])
    if data["literature_in_progress"]:
        lines.append("literature event in progress: finish it with `afr-box literature finish --source ... -m ...`")
    if data["recent"]:
        lines.append("recent rows:")
        for r in data["recent"]:
            score = "" if r["score"] is None else f"{r['score']:.4f}"
            lines.append(f"  {r['candidate']:5} {r['status']:10} {score:7} {r['description'][:90]}"
                         + (f"  ({r['reason'][:80]})" if r["reason"] else ""))
    return "\n".join(lines)
