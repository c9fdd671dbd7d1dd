"""`afr-box summary`: paper-style tables across finished campaigns, from their records alone.

    Table III   per campaign: candidates, crashes, literature events, minutes per candidate,
                campaign and finish wall hours
    Table IV    FLamby-style tasks (per-client mean) and
    Table V     LEAF-style tasks (pooled): baseline repeat, selected repeat, absolute and relative
                gain (paired, over the finish seeds), the profile's external target and its
                source, and the interpretation (the selected candidate's label)
    Fig. 3      the relative gain of each campaign's selected candidate, with its 95% interval

Figures lead with the held-out part where the profile holds one out (else the evaluation set,
which is then the whole test set); the whole-test-set means are given beside them.

    OUT/summary.md  OUT/summary.csv  OUT/summary.html  OUT/relative-gain.png
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from afr_box.orchestrator.errors import RecordError  # noqa: E402
from afr_box.orchestrator.records.files import atomic_write_text  # noqa: E402
from afr_box.orchestrator.records.layout import CampaignFolder  # noqa: E402
from afr_box.orchestrator.records.models import CampaignMeta, load  # noqa: E402
from afr_box.orchestrator.records.runlog import RunLog  # noqa: E402
from afr_box.orchestrator.records.status import Status  # noqa: E402
from afr_box.profiles.schema import load_profile  # noqa: E402
from afr_box.reports.findings import SPLIT_NAMES, findings_record, lead_split  # noqa: E402
from afr_box.reports.html import write_html  # noqa: E402
from afr_box.reports.report import wall_time  # noqa: E402

SUMMARY_MD, SUMMARY_CSV, SUMMARY_HTML, GAIN_PLOT = "summary.md", "summary.csv", "summary.html", "relative-gain.png"
FAMILIES = {"per_client_mean": "Table IV: FLamby tasks (per-client mean)", "pooled": "Table V: LEAF tasks (pooled)"}
CSV_COLUMNS = ("campaign", "task", "search", "policy", "candidates", "crashes", "literature", "min_per_candidate",
               "wall_hours", "finish_hours", "split", "seeds", "baseline_mean", "baseline_std", "selected",
               "selected_mean", "selected_std", "abs_gain", "abs_gain_half_width", "rel_gain_pct",
               "baseline_full_test", "selected_full_test", "target", "target_source", "interpretation")


def _search(meta: CampaignMeta) -> str:
    return meta.proposer + (f" ({meta.sampler})" if meta.sampler else "")


def campaign_summary(campaign_dir: Path) -> dict[str, Any]:
    """One campaign's Table III and Table IV/V figures (None where it is not finished)."""
    folder = CampaignFolder(Path(campaign_dir))
    if not folder.is_campaign():
        raise RecordError(f"{folder.path} is not a campaign folder (no campaign.json)")
    meta = load(CampaignMeta, folder.meta)
    profile = load_profile(folder.profile)
    rows = RunLog(folder.results).rows()
    candidates = [r for r in rows if r.status != Status.LITERATURE]
    wall = wall_time(rows)
    out: dict[str, Any] = {
        "campaign": meta.name, "task": profile.task, "search": _search(meta), "policy": meta.policy,
        "convention": profile.metric.convention, "metric": profile.metric.name,
        "higher_is_better": profile.metric.higher_is_better,
        "candidates": len(candidates), "crashes": sum(r.status == Status.CRASH for r in rows),
        "literature": sum(r.status == Status.LITERATURE for r in rows),
        "min_per_candidate": (sum(r.runtime_seconds for r in candidates) / len(candidates) / 60) if candidates else None,
        "wall_hours": wall / 3600 if wall is not None else None,
        "target": profile.external_targets[0] if profile.external_targets else None,
        "finished": False,
    }
    record = findings_record(folder.path)
    if record is None:
        return out
    split = lead_split(record)
    by = {f.candidate: f for f in record.findings}
    base, selected = by.get(record.baseline), by.get(record.best)
    b = base.splits.get(split) if base else None
    s = selected.splits.get(split) if selected else None
    out.update(finished=True, finish_hours=record.wall_s / 3600, split=split, seeds=len(record.seeds),
               baseline_mean=b.mean if b else None, baseline_std=b.std if b else None,
               selected=record.best, selected_mean=s.mean if s else None, selected_std=s.std if s else None,
               abs_gain=None if selected is None or record.best == record.baseline else s.diff,
               abs_gain_half_width=None if selected is None or record.best == record.baseline else s.diff_half_width,
               interpretation="the baseline (nothing kept)" if record.best == record.baseline else
               (selected.label + (f" ({selected.recovered_by})" if selected.recovered_by else "")),
               baseline_full_test=_full(base), selected_full_test=_full(selected))
    if out["abs_gain"] is not None and b and b.mean:
        sign = 1 if record.higher_is_better else -1
        out["rel_gain_pct"] = 100 * sign * out["abs_gain"] / abs(b.mean)
        out["rel_half_pct"] = (100 * out["abs_gain_half_width"] / abs(b.mean)
                               if out["abs_gain_half_width"] is not None else None)
    else:
        out["rel_gain_pct"] = 0.0 if record.best == record.baseline else None
        out["rel_half_pct"] = None
    return out


def _full(finding) -> Optional[float]:
    if finding is None:
        return None
    r = finding.splits.get("full") or finding.splits.get("test")
    return r.mean if r else None


def _f(value: Optional[float], digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _pm(mean, std) -> str:
    return "-" if mean is None else _f(mean) + ("" if std is None else f" ± {std:.4f}")


def summary_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [f"# Summary of {len(rows)} campaign(s)", "",
             "## Table III: campaigns", "",
             "| campaign | task | search | policy | candidates | crashes | literature events | min/candidate | "
             "wall h | finish h |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['campaign']} | {r['task']} | {r['search']} | {r['policy']} | {r['candidates']} | "
                     f"{r['crashes']} | {r['literature']} | {_f(r['min_per_candidate'], 2)} | "
                     f"{_f(r['wall_hours'], 2)} | {_f(r.get('finish_hours'), 2)} |")
    for convention, title in FAMILIES.items():
        family = [r for r in rows if r["convention"] == convention]
        if not family:
            continue
        lines += ["", f"## {title}", "",
                  "Repeats over the finish seeds (mean ± std); gains are paired (selected minus baseline over "
                  "matched seeds, ± 95% half-width, Student's t), in the metric's direction for the relative gain.",
                  "", "| campaign | task | search | split | baseline repeat | selected | selected repeat | abs gain | "
                  "rel gain % | whole test set: baseline / selected | external target (source) | interpretation |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in family:
            if not r["finished"]:
                lines.append(f"| {r['campaign']} | {r['task']} | {r['search']} | - | not finished: `afr-box finish "
                             f"runs/{r['campaign']}` | | | | | | | |")
                continue
            gain = "-" if r["abs_gain"] is None else (_f(r["abs_gain"], sign=True)
                                                       + ("" if r["abs_gain_half_width"] is None
                                                          else f" ± {r['abs_gain_half_width']:.4f}"))
            target = "-"
            if r["target"] is not None:
                t = r["target"]
                target = f"{t.value:.3f}" + (f" ± {t.std:.3f}" if t.std is not None else "") + f" {t.label} ({t.source})"
            lines.append(f"| {r['campaign']} | {r['task']} | {r['search']} | {SPLIT_NAMES[r['split']]} | "
                         f"{_pm(r['baseline_mean'], r['baseline_std'])} | {r['selected']} | "
                         f"{_pm(r['selected_mean'], r['selected_std'])} | {gain} | {_f(r['rel_gain_pct'], 2, sign=True)} | "
                         f"{_f(r['baseline_full_test'])} / {_f(r['selected_full_test'])} | {target} | "
                         f"{r['interpretation']} |")
    lines += ["", "## Fig. 3: relative gain of the selected candidate", "", f"![relative gain]({GAIN_PLOT})", ""]
    return "\n".join(line.replace("\n", " ") for line in lines) + "\n"


def summary_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        flat = dict(r)
        t = r.get("target")
        flat["target"] = "" if t is None else t.value
        flat["target_source"] = "" if t is None else t.source
        writer.writerow({k: ("" if flat.get(k) is None else flat.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


def plot_gains(rows: list[dict[str, Any]], out_png: Path) -> Path:
    done = [r for r in rows if r["finished"] and r["rel_gain_pct"] is not None]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(done), 2) + 1.2))
    labels = [f"{r['task']}: {r['search']} ({r['campaign']})" for r in done]
    gains = [r["rel_gain_pct"] for r in done]
    errors = [r.get("rel_half_pct") or 0.0 for r in done]
    colours = ["#2a9d8f" if str(r["interpretation"]).startswith("robust") else "#bbbbbb" for r in done]
    ax.barh(range(len(done)), gains, xerr=errors, color=colours, capsize=3)
    ax.set_yticks(range(len(done)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#444", lw=0.8)
    ax.set_xlabel("relative gain over the baseline repeat, % (95% interval); green: robust repeated gain")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=150)
    plt.close(fig)
    return out_png


def write_summary(campaign_dirs: list[Path], out_dir: Path) -> Path:
    """Write the tables and the chart into `out_dir`; returns summary.md's path."""
    rows = [campaign_summary(Path(d)) for d in campaign_dirs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_gains(rows, out_dir / GAIN_PLOT)
    text = summary_markdown(rows) + f"\nWritten {datetime.now():%Y-%m-%d %H:%M} from the campaigns' records.\n"
    md = atomic_write_text(out_dir / SUMMARY_MD, text)
    atomic_write_text(out_dir / SUMMARY_CSV, summary_csv(rows))
    write_html(out_dir, text, "afr-box summary", out_name=SUMMARY_HTML)
    return md
