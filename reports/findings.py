"""Findings as tables: repeats (mean, interval, paired difference to the baseline) and the held-out
check (does the selected gain survive on rows the search never scored), from the records alone.

    repeats.md   per-seed reruns of each candidate's image (afr-box repeat)
    heldout.md   held-out scores over seeds (afr-box heldout)
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from afr_box.orchestrator.records.files import atomic_write_text
from afr_box.orchestrator.records.layout import HELDOUT, HELDOUT_SUMMARY, REPEATS, REPEATS_SUMMARY, CampaignFolder
from afr_box.orchestrator.records.repeats import scores_by_candidate
from afr_box.orchestrator.records.runlog import RunLog, baseline_row
from afr_box.reports.stats import Summary, paired_difference, summarize


def format_summary(s: Optional[Summary], digits: int = 4) -> tuple[str, str, str, str]:
    if s is None:
        return ("-",) * 4
    f = lambda v: "-" if v is None else f"{v:.{digits}f}"
    interval = "-" if s.interval is None else f"[{s.interval[0]:.{digits}f}, {s.interval[1]:.{digits}f}]"
    return f(s.mean), f(s.std), f(s.sem), interval


def repeat_table(campaign_dir: Path) -> list[dict]:
    """One row per repeated candidate: label, n, mean/std/s.e./interval (formatted), the paired
    difference to the baseline over matched seeds with its half-width, and the per-seed scores."""
    by_cand = scores_by_candidate(Path(campaign_dir) / REPEATS)
    base = baseline_row(RunLog(CampaignFolder(campaign_dir).results).rows())
    table = []
    for cand, scores in by_cand.items():
        mean, std, sem, interval = format_summary(summarize(list(scores.values())))
        diff, half = "-", "-"
        if base is not None and cand != base.candidate and base.candidate in by_cand:
            try:
                d = paired_difference(scores, by_cand[base.candidate])
                diff, half = f"{d.mean:+.4f}", "-" if d.half_width is None else f"{d.half_width:.4f}"
            except ValueError:
                pass
        is_base = base is not None and cand == base.candidate
        table.append({"candidate": cand, "label": f"{cand} (baseline)" if is_base else cand, "baseline": is_base,
                      "n": len(scores), "mean": mean, "std": std, "sem": sem, "interval": interval,
                      "diff": diff, "half": half, "scores": scores})
    return table


def repeats_markdown(campaign_dir: Path) -> str:
    lines = ["# Repeats", "",
             "Per-seed reruns of each candidate's image (everything else fixed). Intervals: 95%, Student's t "
             "with n-1 degrees of freedom. Paired differences are candidate minus baseline over matched "
             "seeds. These figures describe these runs; they are not a confirmatory test.", "",
             "| candidate | seeds | mean | std | s.e. | 95% interval | paired diff vs baseline | ± half-width |",
             "|---|---|---|---|---|---|---|---|"]
    for r in repeat_table(campaign_dir):
        lines.append(f"| {r['label']} | {r['n']} | {r['mean']} | {r['std']} | {r['sem']} | {r['interval']} | "
                     f"{r['diff']} | {r['half']} |")
    return "\n".join(lines) + "\n"


def write_repeats_summary(campaign_dir: Path) -> Path:
    return atomic_write_text(Path(campaign_dir) / REPEATS_SUMMARY, repeats_markdown(Path(campaign_dir)))


def heldout_table(campaign_dir: Path, higher_is_better: bool) -> list[dict]:
    held = scores_by_candidate(Path(campaign_dir) / HELDOUT)
    if not held:
        return []
    rows = RunLog(CampaignFolder(campaign_dir).results).rows()
    base = baseline_row(rows)
    validation = scores_by_candidate(Path(campaign_dir) / REPEATS)
    for r in rows:  # the campaign's own run counts as the validation score for its seed
        if r.score is not None:
            validation.setdefault(r.candidate, {}).setdefault(r.seed, r.score)
    table = []
    for cand, scores in held.items():
        is_base = base is not None and cand == base.candidate
        mean, _, _, interval = format_summary(summarize(list(scores.values())))
        val = [validation.get(cand, {})[s] for s in scores if s in validation.get(cand, {})]
        diff = half = survives = "-"
        if base is not None and not is_base and base.candidate in held:
            try:
                d = paired_difference(scores, held[base.candidate])
            except ValueError:
                d = None
            if d is not None:
                gain = d.mean if higher_is_better else -d.mean
                diff, half = f"{d.mean:+.4f}", "-" if d.half_width is None else f"{d.half_width:.4f}"
                if gain > 0 and d.half_width is not None and d.half_width < abs(d.mean):
                    survives = "yes (interval excludes 0)"
                elif gain > 0:
                    survives = "direction only (interval includes 0)"
                else:
                    survives = "no"
        table.append({"candidate": cand, "label": f"{cand} (baseline)" if is_base else cand, "n": len(scores),
                      "validation": f"{sum(val) / len(val):.4f}" if val else "-", "mean": mean,
                      "interval": interval, "diff": diff, "half": half, "survives": survives})
    return table


def heldout_markdown(campaign_dir: Path, higher_is_better: bool) -> str:
    lines = ["# Held-out check", "",
             "Scores on the held-out part of each site's evaluation set, never scored during the search. "
             "Paired differences: candidate minus baseline over matched seeds, 95% half-width (Student's t). "
             "Descriptive, not confirmatory.", "",
             "| candidate | seeds | validation mean | held-out mean | held-out 95% interval | paired held-out diff "
             "vs baseline | ± half-width | gain survives |", "|---|---|---|---|---|---|---|---|"]
    for r in heldout_table(campaign_dir, higher_is_better):
        lines.append(f"| {r['label']} | {r['n']} | {r['validation']} | {r['mean']} | {r['interval']} | {r['diff']} | "
                     f"{r['half']} | {r['survives']} |")
    return "\n".join(lines) + "\n"


def write_heldout_summary(campaign_dir: Path, higher_is_better: bool) -> Path:
    return atomic_write_text(Path(campaign_dir) / HELDOUT_SUMMARY, heldout_markdown(campaign_dir, higher_is_better))
