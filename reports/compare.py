"""`afr-box compare`: campaigns of one task side by side (as in the paper's Tables III-VI)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from afr_box.orchestrator.errors import RecordError
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, load
from afr_box.orchestrator.records.runlog import RunLog, baseline_row, best_row
from afr_box.orchestrator.records.status import FAILED, Status
from afr_box.profiles.schema import load_profile
from afr_box.reports.findings import repeat_table
from afr_box.reports.report import fmt_score, wall_time

COLUMNS = ("campaign", "policy", "proposer", "candidates", "kept", "crash", "rejected", "violation", "literature",
           "wall h", "baseline", "best", "best id", "repeat mean baseline", "repeat mean best")


def campaign_row(folder: Path) -> dict[str, Any]:
    campaign = CampaignFolder(Path(folder))
    if not campaign.is_campaign() or not campaign.profile.is_file():
        raise RecordError(f"{campaign.path} is not a campaign folder (no campaign.json or profile.yaml)")
    meta = load(CampaignMeta, campaign.meta)
    profile = load_profile(campaign.profile)
    rows = RunLog(campaign.results).rows()
    base, best = baseline_row(rows), best_row(rows, profile.metric.higher_is_better)
    repeats = {r["candidate"]: r["mean"] for r in repeat_table(campaign.path)}
    wall = wall_time(rows)
    return {
        "task": profile.task, "campaign": meta.name, "policy": meta.policy,
        "proposer": meta.proposer + (f" ({meta.sampler})" if meta.sampler else ""),
        "candidates": sum(r.status != Status.LITERATURE for r in rows),
        "kept": sum(r.status == Status.KEEP for r in rows),
        **{str(s): sum(r.status == s for r in rows) for s in sorted(FAILED)},
        "literature": sum(r.status == Status.LITERATURE for r in rows),
        "wall h": f"{wall / 3600:.2f}" if wall is not None else "-",
        "baseline": fmt_score(base.score) if base and base.scored else "-",
        "best": fmt_score(best.score) if best else "-", "best id": best.candidate if best else "-",
        "repeat mean baseline": repeats.get(base.candidate, "-") if base else "-",
        "repeat mean best": repeats.get(best.candidate, "-") if best else "-",
    }


def compare_rows(folders: list[Path]) -> list[dict[str, Any]]:
    """One row per campaign (all of one task), as `compare` tabulates them."""
    rows = [campaign_row(f) for f in folders]
    tasks = sorted({r["task"] for r in rows})
    if len(tasks) != 1:
        raise RecordError(f"compare puts campaigns of one task side by side; these are of {', '.join(tasks)}")
    return rows


def compare(folders: list[Path]) -> str:
    rows = compare_rows(folders)
    tasks = [rows[0]["task"]]
    lines = [f"# Campaigns on `{tasks[0]}`", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in rows]
    lines += ["", "Repeat means come from each campaign's `repeats.tsv` (`afr-box repeat`); '-' where not run."]
    return "\n".join(lines) + "\n"
