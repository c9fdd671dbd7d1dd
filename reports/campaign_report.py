"""Build a campaign's report from its folder alone (so `afr-box report` can redo it anytime)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

from afr_box.orchestrator.records.attacks import load_results
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, Timings, load, load_or
from afr_box.orchestrator.records.files import read_json_or
from afr_box.orchestrator.records.runlog import RunLog, best_row
from afr_box.orchestrator.records.status import Status
from afr_box.profiles.schema import load_profile
from afr_box.reports.analysis import attribution, environment, improvement_path
from afr_box.reports.findings import heldout_table, repeat_table
from afr_box.reports.report import ReportContext, render_report


def build_context(campaign_dir: Path) -> ReportContext:
    folder = CampaignFolder(campaign_dir)
    meta = load(CampaignMeta, folder.meta)
    profile = load_profile(folder.profile)
    rows = RunLog(folder.results).rows()
    higher = profile.metric.higher_is_better
    best = best_row(rows, higher)
    best_knobs, best_diff = {}, ""
    if best is not None:
        record = folder.artifacts(best.artifacts)
        knobs_file = record.surface / profile.task / "knobs.yaml"
        if knobs_file.is_file():
            best_knobs = yaml.safe_load(knobs_file.read_text()) or {}
        if record.surface_diff.is_file():
            best_diff = record.surface_diff.read_text()
    timings, verified, violations, images = {}, 0, 0, set()
    for row in rows:
        record = folder.artifacts(row.artifacts)
        steps = load_or(Timings, record.timings)
        timings[row.candidate] = steps.steps() if steps else {}
        check = read_json_or(record.verification, None)
        if check is not None:
            verified += bool(check.get("ok"))
        violations += row.status == Status.VIOLATION
        if row.image_id:
            images.add(row.image_id)
    breaks = RunLog(folder.results).chain_breaks()
    chain = f"intact ({len(rows)} rows)" if not breaks else \
        "BROKEN at " + ", ".join(f"line {line} (candidate {row.candidate})" for line, row, _ in breaks)
    integrity = {"verified candidates": verified, "violations": violations, "run-log hash chain": chain,
                 "base image": meta.base_image_id, "candidate images": sorted(images)}
    attacks, attacks_note = _attack_suite(folder.path, meta, profile.task)
    return ReportContext(
        campaign=meta.name, task=profile.task, task_title=profile.title,
        metric_name=profile.metric.name, higher_is_better=higher,
        score_convention=profile.metric.convention, policy_name=meta.policy,
        policy_sha256=meta.policy_sha256, profile_sha256=meta.profile_sha256,
        rows=rows, best_knobs=best_knobs, best_diff=best_diff, integrity=integrity, timings=timings,
        attacks=attacks, attacks_note=attacks_note, path=improvement_path(folder.path, rows, higher),
        attribution=attribution(folder.path, rows),
        repeats=repeat_table(folder.path), heldout=heldout_table(folder.path, higher),
        heldout_fraction=profile.heldout_fraction, environment=environment(meta, rows),
    )


def _attack_suite(campaign_dir: Path, meta: CampaignMeta, task: str) -> tuple[Optional[dict], str]:
    """The suite verdicts beside the campaign (runs/attacks-<policy>-<task>/), if they were made
    for this very policy file; otherwise a note with the command that makes them."""
    policy = meta.policy
    command = f"`afr-box policy review {policy} --task {task} --attacks --runs-dir {campaign_dir.parent}`"
    found = load_results(campaign_dir.parent, policy, task)
    if found is None:
        return None, f"Not run for this policy and task: {command}."
    if found.get("policy_sha256") != meta.policy_sha256:
        return None, f"The suite beside this campaign was run on another version of policy {policy}: rerun {command}."
    return found, ""


def write_report(campaign_dir: Path) -> Path:
    return render_report(campaign_dir, build_context(campaign_dir))
