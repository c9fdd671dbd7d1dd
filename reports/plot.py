"""Campaign progress plot (progress.png), as the AFR paper's Fig. 1 draws it.

x is the experiment index (row order of results.tsv, baseline = 0; candidates still running
follow the logged rows). Gray dots: discarded; green dots: kept (the baseline ringed); blue
circles on the bottom edge: candidates still running (live during a campaign); red crosses on the
bottom edge: crash, rejected, violation; green step line: the running best over every scored
row; purple triangles on the top edge: literature events, labelled with their id, duration and a
short description. At most MAX_MILESTONES improvements are labelled (the largest gains). The
y-range is robust (yrange.py): a diverged candidate stays visible as a clipped marker on the edge
with its value, instead of squashing the region that matters. A box sums the campaign up.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: campaigns run on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from afr_box.orchestrator.records.runlog import Row, baseline_row, best_row  # noqa: E402
from afr_box.orchestrator.records.status import FAILED, Status  # noqa: E402
from afr_box.reports.yrange import robust_range  # noqa: E402

GREEN, GRAY, RED, BLUE, PURPLE = "#2ca02c", "#9a9a9a", "#d62728", "#1f77b4", "#7b1fa2"
MAX_LABEL_CHARS = 34
MAX_MILESTONES = 6


def _short(text: str, n: int = MAX_LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def literature_label(row: Row) -> str:
    """`L001 · 42 s · FedProx (Li et al. 2020)`: id, duration, the summary without its sources."""
    text = re.sub(r"\s*\[src:.*\]\s*$", "", row.description.removeprefix("literature:").strip())
    return f"{row.candidate} · {duration(row.runtime_seconds)} · {_short(text, 40)}"


def running_best(rows: Sequence[Row], higher_is_better: bool) -> list[tuple[int, float]]:
    """(x, best so far) at every scored row: the best score over all scored rows up to x."""
    better = max if higher_is_better else min
    out, best = [], None
    for i, row in enumerate(rows):
        if row.status != Status.LITERATURE and row.scored:
            best = row.score if best is None else better(best, row.score)
            out.append((i, best))
    return out


def milestones(rows: Sequence[Row], higher_is_better: bool, limit: int = MAX_MILESTONES) -> list[int]:
    """Indices of the rows that raised the running best the most (the baseline not counted), at
    most `limit`, in x order."""
    gains, best = [], None
    for i, row in enumerate(rows):
        if row.status == Status.LITERATURE or not row.scored:
            continue
        if best is not None:
            gain = row.score - best if higher_is_better else best - row.score
            if gain > 0:
                gains.append((gain, i))
        best = row.score if best is None else (max if higher_is_better else min)(best, row.score)
    return sorted(i for _, i in sorted(gains, reverse=True)[:limit])


def summary_lines(rows: Sequence[Row], higher_is_better: bool, wall_s: Optional[float]) -> list[str]:
    base, best = baseline_row(list(rows)), best_row(list(rows), higher_is_better)
    lines = [f"baseline  {base.score:.4f}" if base and base.scored else "baseline  n/a",
             f"best      {best.score:.4f} ({best.candidate})" if best else "best      n/a"]
    if base and base.scored and best:
        lift = best.score - base.score if higher_is_better else base.score - best.score
        rel = f" ({lift / abs(base.score):+.1%})" if base.score else ""
        lines.append(f"lift      {lift:+.4f}{rel}")
    candidates = [r for r in rows if r.status != Status.LITERATURE]
    kept = sum(r.status == Status.KEEP for r in candidates)
    failed = sum(r.status in FAILED for r in candidates)
    lines.append(f"candidates {len(candidates)} ({kept} kept, {failed} failed)")
    if wall_s is not None:
        lines.append(f"runtime   {duration(wall_s)}")
    literature = [r for r in rows if r.status == Status.LITERATURE]
    lines.append(f"literature {len(literature)} event(s), {duration(sum(r.runtime_seconds for r in literature))}")
    return lines


TITLE_WIDTH = 100  # characters per title line at the figure's width


def plot_progress(rows: list[Row], out_png: Path, metric_name: str, higher_is_better: bool, title: str,
                  running: Sequence[tuple[str, str]] = (), wall_s: Optional[float] = None,
                  y_min: Optional[float] = None, y_max: Optional[float] = None) -> Path:
    """Draw the campaign's progress to `out_png` (150 dpi) and return the path. `running`:
    (candidate id, description) of candidates still running; `wall_s`: the campaign's runtime
    (title and summary box); `y_min`/`y_max` override the robust y-range."""
    out_png = Path(out_png)
    fig = progress_figure(rows, metric_name, higher_is_better, title, running, wall_s, y_min, y_max)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=150)
    plt.close(fig)  # campaigns replot after every candidate: don't leak figures
    return out_png


def progress_figure(rows: list[Row], metric_name: str, higher_is_better: bool, title: str,
                    running: Sequence[tuple[str, str]] = (), wall_s: Optional[float] = None,
                    y_min: Optional[float] = None, y_max: Optional[float] = None):
    """The progress figure (the caller saves and closes it). Its artists carry gids the tests read
    back: kept, discarded, running-best, baseline, failed, running, literature, milestone."""
    base = baseline_row(rows)
    fig, ax = plt.subplots(figsize=(12.5, 5.6))
    bottom = blended_transform_factory(ax.transData, ax.transAxes)  # x in data, y in axes

    scored = [(i, r) for i, r in enumerate(rows) if r.status != Status.LITERATURE and r.scored]
    kept = [(i, r) for i, r in scored if r.status == Status.KEEP or r is base]
    discarded = [(i, r) for i, r in scored if not (r.status == Status.KEEP or r is base)]
    failed = [i for i, r in enumerate(rows) if r.status in FAILED]
    literature = [(i, r) for i, r in enumerate(rows) if r.status == Status.LITERATURE]
    steps = running_best(rows, higher_is_better)
    anchors = [r.score for _, r in kept] + [b for _, b in steps]
    limits = robust_range([r.score for _, r in scored], anchors, y_min, y_max)
    lo, hi = limits if limits else (0.0, 1.0)
    inside = lambda v: lo <= v <= hi  # noqa: E731
    handles = []

    def points(items, **style):
        xs = [i for i, r in items if inside(r.score)]
        ax.scatter(xs, [rows[i].score for i in xs], **style)

    if discarded:
        points(discarded, s=14, color=GRAY, alpha=0.75, zorder=2, gid="discarded")
        handles.append(Line2D([], [], ls="", marker="o", ms=4, color=GRAY, label="discarded"))
    if kept:
        points(kept, s=40, color=GREEN, edgecolors="black", linewidths=0.4, zorder=4, gid="kept")
        handles.append(Line2D([], [], ls="", marker="o", ms=6, color=GREEN, mec="black", mew=0.4, label="kept"))
    if steps:
        end = max(len(rows) + len(running) - 1, steps[-1][0])
        ax.step([x for x, _ in steps] + [end], [b for _, b in steps] + [steps[-1][1]], where="post",
                color=GREEN, lw=1.6, zorder=3, clip_on=True, gid="running-best")
        handles.append(Line2D([], [], color=GREEN, lw=1.6, label="running best (every scored row)"))
    if base is not None and base.scored and inside(base.score):
        ax.axhline(base.score, color=GRAY, ls="--", lw=0.9, zorder=1, gid="baseline")
        ax.scatter([rows.index(base)], [base.score], s=110, facecolors="none", edgecolors=GREEN, lw=1.4, zorder=5)
        handles.append(Line2D([], [], color=GRAY, ls="--", lw=0.9, label=f"baseline ({base.score:.4g})"))

    # Values outside the robust range: a marker on the edge they crossed, with the value.
    clipped = [(i, r) for i, r in scored if not inside(r.score)]
    for i, r in clipped:
        top = r.score > hi
        colour = GREEN if (r.status == Status.KEEP or r is base) else GRAY
        ax.scatter([i], [0.985 if top else 0.015], transform=bottom, marker="^" if top else "v", s=46,
                   color=colour, edgecolors="black", linewidths=0.4, zorder=6, clip_on=False)
        ax.annotate(f"{r.score:.3g}", (i, 0.985 if top else 0.015), xycoords=bottom, xytext=(5, -3 if top else 2),
                    textcoords="offset points", fontsize=6.5, color="#444")
    if clipped:
        handles.append(Line2D([], [], ls="", marker="v", ms=6, color=GRAY, mec="black", mew=0.4,
                              label=f"outside the y-range ({len(clipped)}, value shown)"))

    if failed:
        ax.scatter(failed, [0.045] * len(failed), transform=bottom, marker="x", s=34, color=RED, linewidths=1.5,
                   zorder=6, clip_on=False, gid="failed")
        handles.append(Line2D([], [], ls="", marker="x", ms=6, mew=1.5, color=RED, label="crash / rejected / violation"))
    if running:
        xs = list(range(len(rows), len(rows) + len(running)))
        ax.scatter(xs, [0.045] * len(xs), transform=bottom, marker="o", s=46, facecolors="none", edgecolors=BLUE,
                   linewidths=1.6, zorder=6, clip_on=False, gid="running")
        for x, (cand, _) in zip(xs, running):
            ax.axvspan(x - 0.4, x + 0.4, color=BLUE, alpha=0.07, zorder=0)
            ax.annotate(cand, (x, 0.045), xycoords=bottom, xytext=(0, 7), textcoords="offset points",
                        fontsize=6.5, color=BLUE, ha="center")
        handles.append(Line2D([], [], ls="", marker="o", ms=6, mfc="none", mec=BLUE, mew=1.6, label="running"))
    for i, r in literature:
        ax.axvline(i, color=PURPLE, ls=":", lw=1.1, zorder=1, gid="literature")
        ax.scatter([i], [0.955], transform=bottom, marker="v", s=60, color=PURPLE, zorder=6, clip_on=False)
        ax.text(i + 0.15, 0.92, literature_label(r), transform=bottom, rotation=90, fontsize=7, color=PURPLE,
                ha="left", va="top")
    if literature:
        handles.append(Line2D([], [], ls="", marker="v", ms=7, color=PURPLE, label="literature event"))

    total = len(rows) + len(running)
    for k, i in enumerate(milestones(rows, higher_is_better)):
        r = rows[i]
        if not inside(r.score):
            continue
        up = k % 2 == 0  # alternate above/below the point so neighbours do not collide
        right = i > 0.6 * total  # late points are labelled leftwards, inside the axes
        ax.annotate(_short(r.description), (i, r.score), xytext=(-6 if right else 6, 10 if up else -14),
                    textcoords="offset points", fontsize=7, color="#1b5e20", ha="right" if right else "left",
                    va="bottom" if up else "top",
                    arrowprops=dict(arrowstyle="-", color="#1b5e20", lw=0.5), gid="milestone")

    if not scored:
        ax.text(0.5, 0.5, "no scored candidates yet", transform=ax.transAxes, ha="center", va="center",
                color=GRAY, fontsize=11)
    ax.set_ylim(lo, hi)
    ax.set_xlim(-0.6, max(total - 0.4, 0.6) + 0.08 * max(total, 1))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # experiments are whole numbers
    ax.set_xlabel(f"Experiment # ({len(rows)} rows, {len(scored)} scored, {len(kept)} kept"
                  + (f", {len(running)} running" if running else "") + ")")
    ax.set_ylabel(f"{metric_name} ({'higher' if higher_is_better else 'lower'} is better)")
    # Wrapped: a task's full name can be long (femnist's is 120 characters), and one line of it ran
    # off both edges of the figure.
    ax.set_title(textwrap.fill(title + (f" · runtime {duration(wall_s)}" if wall_s is not None else ""),
                               TITLE_WIDTH))
    ax.grid(True, alpha=0.25)
    # Outside the axes: inside, they would hide points or markers.
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.text(1.02, 0.0, "\n".join(summary_lines(rows, higher_is_better, wall_s)), transform=ax.transAxes,
            fontsize=8, family="monospace", va="bottom", ha="left",
            bbox=dict(boxstyle="round,pad=0.5", facecolor="#f7f7f7", edgecolor="#bbbbbb"))
    fig.tight_layout()
    return fig
