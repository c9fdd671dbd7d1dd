"""Build a campaign's report from its folder alone (so `afr-box report` can redo it anytime)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from afr_box.orchestrator.records.agent_usage import agent_totals
from afr_box.orchestrator.records.attacks import load_results
from afr_box.orchestrator.records.layout import PROGRESS_PLOT, CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, Timings, load, load_or
from afr_box.orchestrator.records.files import read_json_or
from afr_box.orchestrator.records.runlog import RunLog, best_row
from afr_box.orchestrator.records.status import Status
from afr_box.profiles.schema import load_profile
from afr_box.reports.analysis import attribution, environment, improvement_path
from afr_box.reports.api import Campaign, load_campaign
from afr_box.reports.curves import global_key, series
from afr_box.reports.findings import findings_markdown, heldout_table, repeat_table
from afr_box.reports.insights import ideas_not_helped, next_steps, totals
from afr_box.reports.plot import plot_progress
from afr_box.reports.report import ReportContext, render_report, wall_time
from afr_box.tasks.shared.bounded_yaml import YamlLimitError, load_bounded


def curve_candidates(campaign: Campaign, extra: Sequence[str] = ()) -> dict[str, Any]:
    """label -> round metrics: the baseline, the best, then `extra` candidate ids (in that order)."""
    chosen: dict[str, Any] = {}
    seen: set[str] = set()
    base, best = campaign.baseline, campaign.best
    for cand, label in ([(base, "baseline")] if base else []) + ([(best, "best")] if best else []) \
            + [(campaign.candidate(c), "") for c in extra]:
        if cand.id in seen or cand.rounds is None:
            continue
        seen.add(cand.id)
        chosen[f"{cand.id} ({label})" if label else cand.id] = cand.rounds
    return chosen


def curve_rows(curves: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, metrics in curves.items():
        key = global_key(metrics)
        last = lambda k: next((v for v in reversed(series(metrics, k)[1]) if v is not None), None) if k else None  # noqa: E731
        bad = sorted(set(series(metrics, key)[2] if key else []) | set(series(metrics, "train_loss")[2]))
        rows.append({"label": label, "rounds": len(metrics.rounds),
                     "metric": "-" if last(key) is None else f"{key} {last(key):.4f}",
                     "loss": "-" if last("train_loss") is None else f"{last('train_loss'):.4f}",
                     "diverged": ", ".join(map(str, bad)) or "none"})
    return rows


def build_context(campaign_dir: Path, curves: Sequence[str] = (), y_min: Optional[float] = None,
                  y_max: Optional[float] = None) -> ReportContext:
    """The report's context from the folder alone; `curves`: more candidate ids whose per-round
    curves to draw beside the baseline's and the best's; `y_min`/`y_max`: progress.png's y-range."""
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
            best_knobs = _knobs(knobs_file)
        if record.surface_diff.is_file():
            best_diff = record.surface_diff.read_text()
    timings, memory, verified, violations, images = {}, {}, 0, 0, set()
    for row in rows:
        record = folder.artifacts(row.artifacts)
        steps = load_or(Timings, record.timings)
        timings[row.candidate] = steps.steps() if steps else {}
        used = read_json_or(record.resources, {})
        if used:
            memory[row.candidate] = {phase: (r.get("peak_anon_bytes"), r.get("peak_cache_bytes"))
                                     for phase, r in used.items()}
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
    campaign = load_campaign(folder.path)
    chosen = curve_candidates(campaign, curves)
    wall = wall_time(rows)
    return ReportContext(
        campaign=meta.name, task=profile.task, task_title=profile.title,
        metric_name=profile.metric.name, higher_is_better=higher,
        score_convention=profile.metric.convention, policy_name=meta.policy,
        policy_sha256=meta.policy_sha256, profile_sha256=meta.profile_sha256,
        rows=rows, best_knobs=best_knobs, best_diff=best_diff, integrity=integrity, timings=timings, memory=memory,
        attacks=attacks, attacks_note=attacks_note, path=improvement_path(folder.path, rows, higher),
        attribution=attribution(folder.path, rows),
        repeats=repeat_table(folder.path), heldout=heldout_table(folder.path, higher),
        heldout_fraction=profile.heldout_fraction, environment=environment(meta, rows),
        findings=findings_markdown(folder.path).partition("\n\n")[2].strip(), noise=_noise_text(meta, profile),
        agent=agent_totals(folder.path),
        wall_seconds=wall, totals=totals(campaign, wall), ideas=ideas_not_helped(campaign),
        next_steps=next_steps(campaign), curves=chosen, curve_rows=curve_rows(chosen), y_min=y_min, y_max=y_max,
    )


def _knobs(knobs_file: Path) -> dict:
    """The best candidate's knobs as the report shows them (candidate YAML: loaded with limits)."""
    try:
        knobs = load_bounded(knobs_file.read_text(encoding="utf-8", errors="replace"))
    except (yaml.YAMLError, YamlLimitError) as exc:
        return {knobs_file.name: f"not shown: {exc}"}
    return knobs if isinstance(knobs, dict) else {knobs_file.name: f"not a mapping ({type(knobs).__name__})"}


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


def _noise_text(meta: CampaignMeta, profile) -> str:
    if profile.min_delta != "auto":
        return f"min_delta {profile.min_delta:g}"
    if meta.noise is None or meta.noise.delta is None:
        return "auto: noise floor not measured (delta 0)"
    scores = ", ".join(f"{v:.4f}" for v in meta.noise.scores.values())
    return (f"auto: noise floor {meta.noise.delta:.4f}; baseline std {meta.noise.std:.4f} over seeds "
            f"{', '.join(map(str, meta.noise.seeds))} ({scores}); {meta.noise.rule}")


def write_report(campaign_dir: Path, curves: Sequence[str] = (), y_min: Optional[float] = None,
                 y_max: Optional[float] = None) -> Path:
    return render_report(campaign_dir, build_context(campaign_dir, curves, y_min, y_max))


def write_progress(campaign_dir: Path, running: Sequence[tuple[str, str]] = ()) -> Path:
    """progress.png alone, with the candidates still `running` (id, description) in blue: the
    campaign loop redraws it as candidates start and finish, so it is live during a campaign."""
    folder = CampaignFolder(campaign_dir)
    profile = load_profile(folder.profile)
    meta = load(CampaignMeta, folder.meta)
    rows = RunLog(folder.results).rows()
    return plot_progress(rows, folder / PROGRESS_PLOT, profile.metric.name, profile.metric.higher_is_better,
                         f"{meta.name}: {profile.title}", running=running, wall_s=wall_time(rows))
