"""`afr-box heldout`: does the selected gain survive on data the search never scored?

A profile with `heldout_fraction` splits each site's test set once, deterministically
(`tasks/prepared.heldout_view`): the campaign scores only the validation part. Here the
selected candidates are rerun over seeds on the held-out part (`heldout.tsv`, records under
`heldout/`), and compared with the baseline over matched seeds.
"""
from __future__ import annotations

from pathlib import Path

from afr_box.orchestrator.durable import atomic_write_text
from afr_box.orchestrator.repeats import format_summary, scores_by_candidate
from afr_box.orchestrator.runlog import RunLog, baseline_row
from afr_box.orchestrator.stats import paired_difference, summarize


def heldout_table(campaign_dir: Path, higher_is_better: bool) -> list[dict]:
    held = scores_by_candidate(Path(campaign_dir) / "heldout.tsv")
    if not held:
        return []
    rows = RunLog(Path(campaign_dir) / "results.tsv").rows()
    base = baseline_row(rows)
    validation = scores_by_candidate(Path(campaign_dir) / "repeats.tsv")
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


def summary_markdown(campaign_dir: Path, higher_is_better: bool) -> str:
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


def write_summary(campaign_dir: Path, higher_is_better: bool) -> Path:
    return atomic_write_text(Path(campaign_dir) / "heldout.md", summary_markdown(campaign_dir, higher_is_better))
