"""Per-round learning curves (rounds.png): the global model's metric and the training loss per
round, baseline vs best vs any other candidate, from each record's round_metrics.json.

Left: the aggregate of what the clients report as `global_<metric>` (the received global model
on each client's data, before local training; so round r shows the model after round r-1).
Right: the aggregate `train_loss` (mean over each client's local steps). Both aggregates are
NVFlare's step-weighted means. A round whose value is missing or was reported as NaN/infinity is
marked with a red x on the panel's bottom edge ("diverged"), and so is one that blew up (more than
BLOW_UP times the median magnitude of its panel): the axis then shows the rest, not the blow-up.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from afr_box.orchestrator.records.models import RoundMetrics  # noqa: E402
from afr_box.reports.yrange import robust_range  # noqa: E402

BLOW_UP = 1e3

RED = "#d62728"
COLOURS = ("#7f7f7f", "#2ca02c", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b")


def global_key(metrics: RoundMetrics) -> Optional[str]:
    """The `global_*` metric the clients report (the task's own metric name after the prefix)."""
    names = sorted({k for e in metrics.rounds for k in e.aggregate if k.startswith("global_")})
    return names[0] if names else None


def series(metrics: RoundMetrics, key: str) -> tuple[list[int], list[Optional[float]], list[int]]:
    """(rounds, aggregate values with None where missing, rounds marked diverged)."""
    rounds, values, bad = [], [], []
    for e in metrics.rounds:
        value = e.aggregate.get(key)
        rounds.append(e.round)
        values.append(value)
        if value is None or any(n.endswith(f"/{key}") for n in e.nonfinite):
            bad.append(e.round)
    return rounds, values, bad


def blown_up(values: list[float]) -> float:
    """The magnitude above which a value counts as diverged in a panel of these values."""
    mags = sorted(abs(v) for v in values)
    return BLOW_UP * max(mags[len(mags) // 2], 1e-9) if mags else float("inf")


def plot_round_curves(curves: dict[str, RoundMetrics], out_png: Path, title: str = "") -> Optional[Path]:
    """Draw `curves` (label -> a candidate's round metrics; first = baseline) to `out_png`; None
    (and no file) when no candidate recorded any round."""
    curves = {label: m for label, m in curves.items() if m is not None and m.rounds}
    if not curves:
        return None
    keys = [k for k in {global_key(m) for m in curves.values()} if k]
    panels = [(keys[0] if keys else None, "global model's metric (clients' data)"), ("train_loss", "training loss")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, (key, what) in zip(axes, panels):
        edge = blended_transform_factory(ax.transData, ax.transAxes)
        if key is None:
            continue
        limit = blown_up([v for m in curves.values() for v in series(m, key)[1] if v is not None])
        drawn = []
        for i, (label, metrics) in enumerate(curves.items()):
            rounds, values, bad = series(metrics, key)
            bad = sorted(set(bad) | {r for r, v in zip(rounds, values) if v is not None and abs(v) > limit})
            values = [None if v is not None and abs(v) > limit else v for v in values]
            if not any(v is not None for v in values) and not bad:
                continue
            colour = COLOURS[i % len(COLOURS)]
            ax.plot(rounds, [float("nan") if v is None else v for v in values], marker="o", ms=3, lw=1.5,
                    color=colour, label=label, zorder=3 if i else 2)
            drawn += [v for v in values if v is not None]
            if bad:
                ax.scatter(bad, [0.03] * len(bad), transform=edge, marker="x", s=30, color=RED, zorder=5,
                           clip_on=False, label=f"{label}: diverged (NaN/inf)")
        lo_hi = robust_range([], anchors=drawn)
        if lo_hi:
            ax.set_ylim(*lo_hi)
        ax.set_xlabel("round")
        ax.set_ylabel(key or "-")
        ax.set_title(what, fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(out_png, dpi=130)
    plt.close(fig)
    return Path(out_png)
