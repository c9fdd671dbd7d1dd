"""Build a campaign's report from its folder alone (so `afr-box report` can redo it anytime)."""
from __future__ import annotations

from pathlib import Path

import yaml

from afr_box.orchestrator.records import read_json_or
from afr_box.orchestrator.runlog import RunLog, best_row
from afr_box.reports.report import ReportContext, render_report


def build_context(campaign_dir: Path) -> ReportContext:
    meta = read_json_or(campaign_dir / "campaign.json", {})
    profile = yaml.safe_load((campaign_dir / "profile.yaml").read_text())
    rows = RunLog(campaign_dir / "results.tsv").rows()
    higher = profile["metric"]["higher_is_better"]
    best = best_row(rows, higher)
    best_knobs, best_diff = {}, ""
    if best is not None:
        folder = campaign_dir / best.artifacts
        knobs_file = folder / "surface" / profile["task"] / "knobs.yaml"
        if knobs_file.is_file():
            best_knobs = yaml.safe_load(knobs_file.read_text()) or {}
        if (folder / "surface.diff").is_file():
            best_diff = (folder / "surface.diff").read_text()
    timings, verified, violations, images = {}, 0, 0, set()
    for row in rows:
        folder = campaign_dir / row.artifacts
        timings[row.candidate] = read_json_or(folder / "timings.json", {})
        check = read_json_or(folder / "verification.json", None)
        if check is not None:
            verified += bool(check.get("ok"))
        violations += row.status == "violation"
        if row.image_id:
            images.add(row.image_id)
    integrity = {"verified candidates": verified, "violations": violations,
                 "base image": meta.get("base_image_id", ""), "candidate images": sorted(images)}
    return ReportContext(
        campaign=meta.get("name", campaign_dir.name), task=profile["task"], task_title=profile["title"],
        metric_name=profile["metric"]["name"], higher_is_better=higher,
        score_convention=profile["metric"]["convention"], policy_name=meta.get("policy", ""),
        policy_sha256=meta.get("policy_sha256", ""), profile_sha256=meta.get("profile_sha256", ""),
        rows=rows, best_knobs=best_knobs, best_diff=best_diff, integrity=integrity, timings=timings,
    )


def write_report(campaign_dir: Path) -> Path:
    return render_report(campaign_dir, build_context(campaign_dir))
