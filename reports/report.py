"""The campaign report `report.md`: a reviewer's one-page view of a campaign folder.

Numbers are computed here; the jinja2 template (templates/report.md.j2) only lays them out,
so that the arithmetic is testable and the template stays readable.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from afr_box.orchestrator.records.layout import PROGRESS_PLOT, REPEATS_PLOT, REPORT_MD, ROUNDS_PLOT
from afr_box.orchestrator.records.runlog import Row, baseline_row, best_row
from afr_box.orchestrator.records.status import FAILED, ROW_STATUSES, Status
from afr_box.reports.conversation import conversations_html
from afr_box.reports.curves import plot_round_curves
from afr_box.reports.html import write_html
from afr_box.reports.plot import plot_progress
from afr_box.reports.repeats_plot import plot_repeats
from afr_box.tasks.shared.text import safe_text

MAX_DIFF_CHARS = 200_000  # the best candidate's diff in the report (surface.diff keeps it whole)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PHASE_ORDER = ("gate", "build", "train", "infer", "score", "verify")
CONVENTIONS = {
    "per_client_mean": "Scores are the per-client mean: the metric is computed on each "
                       "client's test set and averaged over clients, unweighted "
                       "(FLamby convention).",
    "pooled": "Scores are pooled: the metric is computed once over all clients' test "
              "samples together (LEAF convention).",
}


@dataclass
class ReportContext:
    """Everything the report needs besides the campaign folder itself."""

    campaign: str
    task: str
    task_title: str
    metric_name: str
    higher_is_better: bool
    score_convention: str              # per_client_mean | pooled
    policy_name: str
    policy_sha256: str
    profile_sha256: str
    rows: list[Row]
    best_knobs: dict[str, Any] = field(default_factory=dict)
    best_diff: str = ""                # unified diff of the best candidate vs the baseline
    integrity: dict[str, Any] = field(default_factory=dict)  # verified/violation counts, image ids
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # candidate -> phase -> s
    # candidate -> phase -> (peak anon bytes, peak page-cache bytes) of its container (resources.json)
    memory: dict[str, dict[str, tuple]] = field(default_factory=dict)
    wall_seconds: Optional[float] = None  # campaign wall time; derived from the rows if None
    attacks: Optional[dict[str, Any]] = None  # attack-suite verdicts for this policy and task (attacks.json)
    path: list[Any] = field(default_factory=list)          # analysis.Step: each kept improvement
    attribution: list[dict[str, Any]] = field(default_factory=list)  # mechanism classes per kept candidate
    repeats: list[dict[str, Any]] = field(default_factory=list)      # repeats.repeat_table rows
    heldout: list[dict[str, Any]] = field(default_factory=list)      # heldout.heldout_table rows
    heldout_fraction: float = 0.0
    findings: str = ""                 # findings.md's table (afr-box finish): the report leads with it
    noise: str = ""                    # the noise floor the reviews used
    environment: dict[str, Any] = field(default_factory=dict)
    attacks_note: str = ""             # why there are none, and the command that produces them
    agent: Optional[Any] = None        # records.agent_usage.AgentTotals: the agent's campaign totals
    totals: dict[str, str] = field(default_factory=dict)        # insights.totals
    ideas: list[Any] = field(default_factory=list)              # insights.Idea: what did not help, by mechanism
    next_steps: list[str] = field(default_factory=list)         # insights.next_steps
    curves: dict[str, Any] = field(default_factory=dict)        # label -> RoundMetrics (baseline first)
    curve_rows: list[dict[str, Any]] = field(default_factory=list)  # per curve: rounds, last values, diverged
    y_min: Optional[float] = None      # progress.png y-range overrides (--y-min/--y-max)
    y_max: Optional[float] = None

    def __post_init__(self) -> None:
        if self.score_convention not in CONVENTIONS:
            raise ValueError(f"score_convention {self.score_convention!r} not in "
                             f"{sorted(CONVENTIONS)}")


def cell(value: Any) -> str:
    """A markdown table cell: one line, bounded, inert (safe_text), `|` escaped. Markup in it stays
    text: report.html renders markdown with raw HTML disabled (reports/html.py)."""
    return safe_text(value).replace("|", r"\|")


def fmt_score(score: Optional[float]) -> str:
    return "" if score is None else f"{score:.6g}"


def fmt_seconds(seconds: Optional[float]) -> str:
    if seconds is None:
        return "n/a"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{seconds:.1f} s ({hours}h {rest // 60:02d}m {rest % 60:02d}s)"


def _parse_time(text: str) -> Optional[datetime]:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def wall_time(rows: list[Row]) -> Optional[float]:
    """First row's start (finish - runtime) to the last finish; the runtime sum as fallback."""
    stamps = [_parse_time(r.finished_at) for r in rows]
    if rows and all(stamps):
        start = min(s.timestamp() - r.runtime_seconds for s, r in zip(stamps, rows))
        return max(s.timestamp() for s in stamps) - start
    return sum(r.runtime_seconds for r in rows) if rows else None


def _fence(text: str) -> str:
    """A backtick fence longer than any backtick run in `text`, so a diff can't close it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _summary(ctx: ReportContext) -> dict[str, Any]:
    base, best = baseline_row(ctx.rows), best_row(ctx.rows, ctx.higher_is_better)
    lift = None
    if base is not None and base.scored and best is not None:
        # Positive lift = improvement in the metric's direction.
        lift = best.score - base.score if ctx.higher_is_better else base.score - best.score
    rel = f" ({lift / abs(base.score):+.2%} relative)" if lift is not None and base.score else ""
    counts = {str(s): sum(r.status == s for r in ctx.rows) for s in ROW_STATUSES}
    return {
        "baseline": fmt_score(base.score) if base and base.scored else "n/a",
        "baseline_id": base.candidate if base else "",
        "best": fmt_score(best.score) if best else "n/a",
        "best_id": best.candidate if best else "",
        "best_description": best.description if best else "",
        "lift": (f"{lift:+.6g}" + rel) if lift is not None else "n/a",
        "counts": {s: n for s, n in counts.items() if n},
        "total": len(ctx.rows),
        "wall": fmt_seconds(ctx.wall_seconds if ctx.wall_seconds is not None
                            else wall_time(ctx.rows)),
        "convention": CONVENTIONS[ctx.score_convention],
        "direction": "higher is better" if ctx.higher_is_better else "lower is better",
    }


def _timings_table(timings: dict[str, dict[str, float]]) -> dict[str, Any]:
    seen = {p for phases in timings.values() for p in phases}
    phases = [p for p in PHASE_ORDER if p in seen] + sorted(seen - set(PHASE_ORDER))
    rows = []
    for cand in sorted(timings):
        t = timings[cand]
        rows.append([cand] + [f"{t[p]:.1f}" if p in t else "" for p in phases]
                    + [f"{sum(t.values()):.1f}"])
    return {"phases": phases, "rows": rows}


def _memory_table(memory: dict[str, dict[str, tuple]]) -> dict[str, Any]:
    seen = {p for phases in memory.values() for p in phases}
    phases = [p for p in PHASE_ORDER if p in seen] + sorted(seen - set(PHASE_ORDER))

    def mib(v) -> str:
        return f"{v / 2 ** 20:.0f}" if v is not None else "?"

    rows = [[cand] + [f"{mib(memory[cand][p][0])} / {mib(memory[cand][p][1])}" if p in memory[cand] else ""
                      for p in phases] for cand in sorted(memory)]
    return {"phases": phases, "rows": rows}


def _integrity_items(integrity: dict[str, Any]) -> tuple[list, list]:
    """Split into scalar facts (a table) and collections (bulleted lists, e.g. image ids)."""
    scalars, lists = [], []
    for key, value in integrity.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            lists.append((key, sorted(map(str, value))))
        elif isinstance(value, dict):
            lists.append((key, [f"{k}: {v}" for k, v in value.items()]))
        else:
            scalars.append((key, value))
    return scalars, lists


def plain(value: Any) -> str:
    """Candidate-derived text as inert text in a markdown cell: one line, `|` escaped, and the
    characters HTML would read as markup (<, >, &) and markdown's emphasis/link/code marks as
    entities, so a description shows as written and never becomes a tag or a link."""
    text = cell(value)
    for ch, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("*", "&#42;"), ("_", "&#95;"),
                       ("[", "&#91;"), ("]", "&#93;"), ("`", "&#96;")):
        text = text.replace(ch, entity)
    return text


def render_report(campaign_dir: Path, context: ReportContext) -> Path:
    """Write `progress.png`, `rounds.png` and `report.md` into `campaign_dir`; return the report's path."""
    campaign_dir = Path(campaign_dir)
    ctx = context
    wall = ctx.wall_seconds if ctx.wall_seconds is not None else wall_time(ctx.rows)
    plot_progress(ctx.rows, campaign_dir / PROGRESS_PLOT, ctx.metric_name,
                  ctx.higher_is_better, f"{ctx.campaign}: {ctx.task_title}", wall_s=wall,
                  y_min=ctx.y_min, y_max=ctx.y_max)
    curves_png = plot_round_curves(ctx.curves, campaign_dir / ROUNDS_PLOT, f"{ctx.campaign}: per-round curves")
    if curves_png is None:
        (campaign_dir / ROUNDS_PLOT).unlink(missing_ok=True)  # none to draw now: no stale picture
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["cell"] = cell
    env.filters["score"] = fmt_score
    env.filters["plain"] = plain
    scalars, lists = _integrity_items(ctx.integrity)
    diff = safe_text(ctx.best_diff, limit=MAX_DIFF_CHARS, lines=True).rstrip("\n")  # candidate file text
    if ctx.repeats:
        base = next((r["candidate"] for r in ctx.repeats if r["baseline"]), "")
        plot_repeats({r["candidate"]: r["scores"] for r in ctx.repeats}, campaign_dir / REPEATS_PLOT,
                     ctx.metric_name, base)
    text = env.get_template("report.md.j2").render(
        ctx=ctx,
        summary=_summary(ctx),
        knobs=[(k, json.dumps(v) if not isinstance(v, str) else v)
               for k, v in sorted(ctx.best_knobs.items())],
        diff=diff,
        fence=_fence(diff),
        failures=[r for r in ctx.rows if r.status in FAILED],
        literature=[r for r in ctx.rows if r.status == Status.LITERATURE],
        integrity_scalars=scalars,
        integrity_lists=lists,
        timings=_timings_table(ctx.timings),
        memory=_memory_table(ctx.memory),
        curves_png=curves_png is not None,
    )
    out = campaign_dir / REPORT_MD
    out.write_text(text, encoding="utf-8")
    write_html(campaign_dir, text, f"afr-box campaign {ctx.campaign}", conversations_html(campaign_dir, ctx.rows))
    return out
