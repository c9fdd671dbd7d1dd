"""`afr-box compare`: campaigns of one task side by side (as in the paper's Tables III-VI)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.records import read_json_or
from afr_box.orchestrator.repeats import repeat_table
from afr_box.orchestrator.runlog import FAILED_STATUSES, RunLog, baseline_row, best_row
from afr_box.reports.report import fmt_score, wall_time

COLUMNS = ("campaign", "policy", "proposer", "candidates", "kept", "crash", "rejected", "violation", "literature",
           "wall h", "baseline", "best", "best id", "repeat mean baseline", "repeat mean best")


def campaign_row(folder: Path) -> dict[str, Any]:
    folder = Path(folder)
    meta = read_json_or(folder / "campaign.json", None)
    if meta is None or not (folder / "profile.yaml").is_file():
        raise CampaignError(f"{folder} is not a campaign folder (no campaign.json or profile.yaml)")
    profile = yaml.safe_load((folder / "profile.yaml").read_text())
    rows = RunLog(folder / "results.tsv").rows()
    higher = profile["metric"]["higher_is_better"]
    base, best = baseline_row(rows), best_row(rows, higher)
    repeats = {r["candidate"]: r["mean"] for r in repeat_table(folder)}
    wall = wall_time(rows)
    return {
        "task": profile["task"], "campaign": meta.get("name", folder.name), "policy": meta.get("policy", ""),
        "proposer": meta.get("proposer", ""),
        "candidates": sum(r.status != "literature" for r in rows),
        "kept": sum(r.status == "keep" for r in rows),
        **{s: sum(r.status == s for r in rows) for s in sorted(FAILED_STATUSES)},
        "literature": sum(r.status == "literature" for r in rows),
        "wall h": f"{wall / 3600:.2f}" if wall is not None else "-",
        "baseline": fmt_score(base.score) if base and base.scored else "-",
        "best": fmt_score(best.score) if best else "-", "best id": best.candidate if best else "-",
        "repeat mean baseline": repeats.get(base.candidate, "-") if base else "-",
        "repeat mean best": repeats.get(best.candidate, "-") if best else "-",
    }


def compare(folders: list[Path]) -> str:
    rows = [campaign_row(f) for f in folders]
    tasks = sorted({r["task"] for r in rows})
    if len(tasks) != 1:
        raise CampaignError(f"compare puts campaigns of one task side by side; these are of {', '.join(tasks)}")
    lines = [f"# Campaigns on `{tasks[0]}`", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in rows]
    lines += ["", "Repeat means come from each campaign's `repeats.tsv` (`afr-box repeat`); '-' where not run."]
    return "\n".join(lines) + "\n"
