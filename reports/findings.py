"""Findings as tables: repeats (mean, interval, paired difference to the baseline) and the held-out
check (does the selected gain survive on rows the search never scored), from the records alone.

    repeats.md   per-seed reruns of each candidate's image (afr-box repeat)
    heldout.md   held-out scores over seeds (afr-box heldout)
    findings.md  the finish step's labelled findings, held-out first (afr-box finish: findings.json)
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from afr_box.orchestrator.records.files import atomic_write_text
from afr_box.orchestrator.records.layout import (FINDINGS_SUMMARY, HELDOUT, HELDOUT_SUMMARY, REPEATS, REPEATS_SUMMARY,
                                                 CampaignFolder)
from afr_box.orchestrator.records.repeats import scores_by_candidate, weights_by_candidate
from afr_box.orchestrator.records.runlog import RunLog, baseline_row
from afr_box.reports.stats import Summary, paired_difference, summarize


def format_summary(s: Optional[Summary], digits: int = 4) -> tuple[str, str, str, str]:
    if s is None:
        return ("-",) * 4
    f = lambda v: "-" if v is None else f"{v:.{digits}f}"
    interval = "-" if s.interval is None else f"[{s.interval[0]:.{digits}f}, {s.interval[1]:.{digits}f}]"
    return f(s.mean), f(s.std), f(s.sem), interval


def seed_warning(scores: dict[int, float], weights: dict[int, str]) -> str:
    """A warning (not a violation) when the seeds do not do what seeds do: identical final weights
    across seeds (the seed never reaches training: a hard-coded seed), or identical scores while
    the weights differ (the score does not depend on what was trained). '' otherwise."""
    seeds = [s for s in scores if s in weights]
    if len(seeds) < 2:
        return ""
    if len({weights[s] for s in seeds}) == 1:
        return f"weights identical across {len(seeds)} seeds: the seed does not reach training (hard-coded seed?)"
    if len({scores[s] for s in seeds}) == 1:
        return f"scores identical across {len(seeds)} seeds while the weights differ: the score may not depend " \
               f"on the trained model"
    return ""


def repeat_table(campaign_dir: Path) -> list[dict]:
    """One row per repeated candidate: label, n, mean/std/s.e./interval (formatted), the paired
    difference to the baseline over matched seeds with its half-width, the per-seed scores, and
    a seed-sensitivity warning."""
    by_cand = scores_by_candidate(Path(campaign_dir) / REPEATS)
    weights = weights_by_candidate(Path(campaign_dir) / REPEATS)
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
                      "diff": diff, "half": half, "scores": scores,
                      "warning": seed_warning(scores, weights.get(cand, {}))})
    return table


def repeats_markdown(campaign_dir: Path) -> str:
    lines = ["# Repeats", "",
             "Per-seed reruns of each candidate's image (everything else fixed). Intervals: 95%, Student's t "
             "with n-1 degrees of freedom. Paired differences are candidate minus baseline over matched "
             "seeds. These figures describe these runs; they are not a confirmatory test. A warning marks a "
             "candidate whose final weights are identical across seeds (a hard-coded seed) or whose scores are "
             "identical while its weights differ (the score does not depend on the model); it is not a violation.",
             "",
             "| candidate | seeds | mean | std | s.e. | 95% interval | paired diff vs baseline | ± half-width | warning |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in repeat_table(campaign_dir):
        lines.append(f"| {r['label']} | {r['n']} | {r['mean']} | {r['std']} | {r['sem']} | {r['interval']} | "
                     f"{r['diff']} | {r['half']} | {r['warning']} |")
    return "\n".join(lines) + "\n"


def write_repeats_summary(campaign_dir: Path) -> Path:
    return atomic_write_text(Path(campaign_dir) / REPEATS_SUMMARY, repeats_markdown(Path(campaign_dir)))


SURVIVES, DIRECTION_ONLY, DOES_NOT = "yes (interval excludes 0)", "direction only (interval includes 0)", "no"


def gain_survives(diff_mean: float, half_width: Optional[float], higher_is_better: bool) -> str:
    """The held-out verdict on a paired difference (candidate minus baseline): `yes` when it is a
    gain and its 95% interval excludes 0, `direction only` when it is a gain whose interval includes
    0 (or that has no interval: one seed), `no` when it is no gain."""
    gain = diff_mean if higher_is_better else -diff_mean
    if gain <= 0:
        return DOES_NOT
    return SURVIVES if half_width is not None and half_width < abs(diff_mean) else DIRECTION_ONLY


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
                diff, half = f"{d.mean:+.4f}", "-" if d.half_width is None else f"{d.half_width:.4f}"
                survives = gain_survives(d.mean, d.half_width, higher_is_better)
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


# ---------------------------------------------------------------- findings.json (afr-box finish)

SPLIT_NAMES = {"heldout": "held-out", "test": "evaluation set", "full": "whole test set"}


def _pm(mean: Optional[float], spread: Optional[float], digits: int = 4) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" + (f" ± {spread:.{digits}f}" if spread is not None else "")


def _diff(result, digits: int = 4) -> str:
    if result is None or result.diff is None:
        return "-"
    return f"{result.diff:+.{digits}f}" + (f" ± {result.diff_half_width:.{digits}f}"
                                            if result.diff_half_width is not None else "")


def findings_record(campaign_dir: Path):
    """The campaign's findings.json, or None before `afr-box finish`."""
    from afr_box.orchestrator.records.models import FindingsRecord, load_or

    return load_or(FindingsRecord, CampaignFolder(campaign_dir).findings)


def lead_split(record) -> str:
    """The split a finished campaign's figures lead with: held-out when there is one."""
    return "heldout" if "heldout" in record.splits else "test"


def findings_table(record) -> list[dict]:
    """One row per repeated candidate, the lead split first: mean ± std over seeds, paired
    difference to the baseline ± its 95% half-width, per split; and the label."""
    order = [lead_split(record)] + [s for s in ("test", "full") if s in record.splits and s != lead_split(record)]
    table = []
    for f in record.findings:
        cells = {"candidate": f.candidate + (" (baseline)" if f.candidate == record.baseline else "")
                 + (" (selected)" if f.selected else ""),
                 "label": f.label + (f" ({f.recovered_by})" if f.recovered_by else ""),
                 "campaign": "-" if f.campaign_score is None else f"{f.campaign_score:.4f}",
                 "description": f.description}
        for split in order:
            r = f.splits.get(split)
            cells[f"{split}_mean"] = _pm(r.mean, r.std) if r else "-"
            cells[f"{split}_diff"] = _diff(r) if f.candidate != record.baseline else ""
            cells[f"{split}_n"] = r.n if r else 0
        table.append(cells)
    return table


def findings_markdown(campaign_dir: Path) -> str:
    record = findings_record(campaign_dir)
    if record is None:
        return ""
    order = [lead_split(record)] + [s for s in ("test", "full") if s in record.splits and s != lead_split(record)]
    held = "heldout" in record.splits
    lines = ["# Findings", "",
             f"`afr-box finish`: baseline, the campaign's best and its top scored candidates repeated over seeds "
             f"{', '.join(map(str, record.seeds))} (mean ± std over seeds); paired differences are candidate minus "
             "baseline over matched seeds ± the 95% half-width (Student's t, scipy). "
             + (f"The search scored the validation part of each site's test set; the held-out part "
                f"({record.heldout_fraction:g}) was never scored during the search, and the whole test set is "
                "the one published figures use. " if held else
                "The profile holds nothing out: the evaluation set is the whole test set. ")
             + "Labels: orchestrator/findings/labels.py.", ""]
    head = ["candidate", "label"]
    for split in order:
        head += [f"{SPLIT_NAMES[split]} mean ± std", f"{SPLIT_NAMES[split]} diff vs baseline"]
    head += ["campaign run", "description"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in findings_table(record):
        cells = [r["candidate"], r["label"]]
        for split in order:
            cells += [r[f"{split}_mean"], r[f"{split}_diff"]]
        cells += [r["campaign"], r["description"]]
        lines.append("| " + " | ".join(c.replace("|", r"\|") for c in map(str, cells)) + " |")
    if record.controls:
        lines += ["", f"Scalar controls compared: {', '.join(record.controls)}."]
    return "\n".join(lines) + "\n"


def write_findings_summary(campaign_dir: Path) -> Path:
    return atomic_write_text(Path(campaign_dir) / FINDINGS_SUMMARY, findings_markdown(Path(campaign_dir)))
