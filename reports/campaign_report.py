"""Build a campaign's report from its folder alone (so `afr-box report` can redo it anytime)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

from afr_box.orchestrator.records import read_json_or
from afr_box.orchestrator.runlog import RunLog, best_row
from afr_box.orchestrator.heldout import heldout_table
from afr_box.orchestrator.repeats import repeat_table
from afr_box.reports.analysis import attribution, environment, improvement_path
from afr_box.reports.report import ReportContext, render_report
from afr_box.security.results import load_results


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
    breaks = RunLog(campaign_dir / "results.tsv").chain_breaks()
    chain = f"intact ({len(rows)} rows)" if not breaks else \
        "BROKEN at " + ", ".join(f"line {line} (candidate {row.candidate})" for line, row, _ in breaks)
    integrity = {"verified candidates": verified, "violations": violations, "run-log hash chain": chain,
                 "base image": meta.get("base_image_id", ""), "candidate images": sorted(images)}
    attacks, attacks_note = _attack_suite(campaign_dir, meta, profile["task"])
    path = improvement_path(campaign_dir, rows, higher)
    return ReportContext(
        campaign=meta.get("name", campaign_dir.name), task=profile["task"], task_title=profile["title"],
        metric_name=profile["metric"]["name"], higher_is_better=higher,
        score_convention=profile["metric"]["convention"], policy_name=meta.get("policy", ""),
        policy_sha256=meta.get("policy_sha256", ""), profile_sha256=meta.get("profile_sha256", ""),
        rows=rows, best_knobs=best_knobs, best_diff=best_diff, integrity=integrity, timings=timings,
        attacks=attacks, attacks_note=attacks_note, path=path, attribution=attribution(campaign_dir, rows),
        repeats=repeat_table(campaign_dir), heldout=heldout_table(campaign_dir, higher),
        heldout_fraction=float(profile.get("heldout_fraction", 0.0)),
        environment=environment(campaign_dir, meta, rows),
    )


def _attack_suite(campaign_dir: Path, meta: dict, task: str) -> tuple[Optional[dict], str]:
    """The suite verdicts beside the campaign (runs/attacks-<policy>-<task>/), if they were made
    for this very policy file; otherwise a note with the command that makes them."""
    policy = meta.get("policy", "")
    command = f"`afr-box policy review {policy} --task {task} --attacks --runs-dir {campaign_dir.parent}`"
    found = load_results(campaign_dir.parent, policy, task)
    if found is None:
        return None, f"Not run for this policy and task: {command}."
    if found.get("policy_sha256") != meta.get("policy_sha256"):
        return None, f"The suite beside this campaign was run on another version of policy {policy}: rerun {command}."
    return found, ""


def write_report(campaign_dir: Path) -> Path:
    return render_report(campaign_dir, build_context(campaign_dir))
