"""Campaign progress plot in the style of the AFR paper's Fig. 1.

x is the experiment index (row order of results.tsv, baseline = 0); kept candidates are
green dots joined by a running-best step line, discarded ones gray, failures red x's on the
bottom axis, literature rows dotted vertical markers.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: campaigns run on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from afr_box.orchestrator.records.runlog import Row, baseline_row  # noqa: E402
from afr_box.orchestrator.records.status import FAILED, Status  # noqa: E402

GREEN, GRAY, RED, BLUE = "#2ca02c", "#9a9a9a", "#d62728", "#1f77b4"
MAX_LABEL_CHARS = 38


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def plot_progress(rows: list[Row], out_png: Path, metric_name: str, higher_is_better: bool,
                  title: str) -> Path:
    """Draw the campaign's progress to `out_png` (150 dpi) and return the path."""
    out_png = Path(out_png)
    base = baseline_row(rows)
    better = max if higher_is_better else min
    fig, ax = plt.subplots(figsize=(11, 5.5))
    bottom = blended_transform_factory(ax.transData, ax.transAxes)  # x in data, y in axes

    kept_x, kept_y, disc_x, disc_y, fail_x, lit_x = [], [], [], [], [], []
    step_x, step_y, running = [], [], None
    for i, row in enumerate(rows):
        if row.status == Status.LITERATURE:
            lit_x.append(i)
        elif row.status in FAILED:
            fail_x.append(i)
        elif not row.scored:  # e.g. an unscored row awaiting review: nothing to draw
            continue
        elif row.status == Status.KEEP or row is base:
            kept_x.append(i)
            kept_y.append(row.score)
            running = row.score if running is None else better(running, row.score)
            step_x.append(i)
            step_y.append(running)
            if row is not base:
                ax.annotate(_short(row.description), (i, row.score), xytext=(4, 4),
                            textcoords="offset points", fontsize=6.5, color="#1b5e20",
                            rotation=25, ha="left", va="bottom")
        else:  # discard, or a scored row still awaiting review
            disc_x.append(i)
            disc_y.append(row.score)

    if disc_x:
        ax.scatter(disc_x, disc_y, s=12, color=GRAY, alpha=0.7, zorder=2, label="discarded")
    if kept_x:
        ax.scatter(kept_x, kept_y, s=36, color=GREEN, edgecolors="black", linewidths=0.4,
                   zorder=4, label="kept")
        # Carry the running best to the last experiment so the line spans the whole x range.
        ax.step(step_x + [max(len(rows) - 1, step_x[-1])], step_y + [step_y[-1]],
                where="post", color=GREEN, linewidth=1.6, zorder=3, label="running best")
    if base is not None and base.scored:
        ax.axhline(base.score, color=BLUE, linestyle="--", linewidth=1.0, zorder=1,
                   label=f"baseline ({base.score:.4g})")
    for j, x in enumerate(lit_x):
        ax.axvline(x, color="#7b1fa2", linestyle=":", linewidth=1.2, zorder=1,
                   label="literature" if j == 0 else None)
        ax.text(x, 0.98, " literature", transform=bottom, rotation=90, fontsize=7,
                color="#7b1fa2", ha="right", va="top")
    if fail_x:
        ax.scatter(fail_x, [0.02] * len(fail_x), transform=bottom, marker="x", s=22,
                   color=RED, linewidths=1.2, zorder=5, clip_on=False,
                   label="crash / rejected / violation")

    if not (kept_x or disc_x):
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.5, "no scored candidates yet", transform=ax.transAxes,
                ha="center", va="center", color=GRAY, fontsize=11)
    # Right/top headroom so the slanted labels of late or high kept points stay inside.
    right = max(len(rows) - 0.5, 0.5)
    ax.set_xlim(-0.5, right + (0.16 * (right + 0.5) if len(kept_x) > 1 else 0))
    if kept_x or disc_x:
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.08 * (hi - lo))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # experiments are whole numbers
    n_scored = len(kept_x) + len(disc_x)
    ax.set_xlabel(f"Experiment # ({len(rows)} rows, {n_scored} scored, {len(kept_x)} kept)")
    direction = "higher is better" if higher_is_better else "lower is better"
    ax.set_ylabel(f"{metric_name} ({direction})")
    ax.set_title(title)
    ax.grid(True, alpha=0.25)
    if ax.get_legend_handles_labels()[0]:
        # Outside the axes: inside, it would hide points or failure markers.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=150)
    plt.close(fig)  # campaigns replot after every candidate: don't leak figures
    return out_png
