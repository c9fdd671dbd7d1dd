"""`afr-box status`: best so far, recent rows and the plateau watchdog of a workspace's campaign."""
from __future__ import annotations

from typing import Any

from afr_box.orchestrator.external.literature import LITERATURE_FILE
from afr_box.orchestrator.external.workspace import Workspace
from afr_box.orchestrator.pipeline.watchdog import PlateauState, plateau_state
from afr_box.orchestrator.records.runlog import best_row
from afr_box.orchestrator.records.status import FAILED


def plateau(ws: Workspace) -> PlateauState:
    profile, _, _ = ws.profile_policy()
    return plateau_state(ws.rows(), profile.plateau_threshold)


def status_data(ws: Workspace, last: int = 10) -> dict[str, Any]:
    """The workspace's campaign in numbers (what `status` prints, and `status --json` gives)."""
    profile, _, _ = ws.profile_policy()
    rows = ws.rows()
    best = best_row(rows, profile.metric.higher_is_better)
    watch = plateau_state(rows, profile.plateau_threshold)
    return {
        "campaign": ws.campaign_dir.name, "folder": str(ws.campaign_dir), "task": profile.task,
        "metric": profile.metric.name, "rows": len(rows),
        "best": None if best is None else {"candidate": best.candidate, "score": best.score,
                                           "description": best.description},
        "plateau": {"since_progress": watch.since_progress, "threshold": watch.threshold, "fired": watch.fired,
                    "text": watch.describe()},
        "literature_in_progress": (ws.folder / LITERATURE_FILE).is_file(),
        "recent": [{"candidate": r.candidate, "status": str(r.status), "score": r.score, "description": r.description,
                    "reason": r.reason if r.status in FAILED else ""} for r in rows[-last:]],
    }


def status_text(ws: Workspace, last: int = 10) -> str:
    data = status_data(ws, last)
    lines = [f"campaign {data['campaign']} (task {data['task']}, {data['rows']} rows): {data['folder']}"]
    best = data["best"]
    if best is None:
        lines.append("best: none yet (the first `afr-box try` runs the baseline first)")
    else:
        lines.append(f"best: {best['candidate']} {data['metric']} {best['score']:.4f}  {best['description']}")
    lines.append(data["plateau"]["text"])
    if data["literature_in_progress"]:
        lines.append("literature event in progress: finish it with `afr-box literature finish --source ... -m ...`")
    if data["recent"]:
        lines.append("recent rows:")
        for r in data["recent"]:
            score = "" if r["score"] is None else f"{r['score']:.4f}"
            lines.append(f"  {r['candidate']:5} {r['status']:10} {score:7} {r['description'][:90]}"
                         + (f"  ({r['reason'][:80]})" if r["reason"] else ""))
    return "\n".join(lines)
