"""Repeat scores per seed: one line per repeated candidate (baseline vs the selected ones)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_repeats(series: dict[str, dict[int, float]], out_png: Path, metric_name: str, baseline: str) -> Path:
    """`series`: label -> {seed: score}. The baseline is drawn gray, the others in colour."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    seeds = sorted({s for scores in series.values() for s in scores})
    for label, scores in series.items():
        xs = [s for s in seeds if s in scores]
        is_base = label == baseline
        ax.plot(xs, [scores[s] for s in xs], marker="o", lw=1.5, color="#9a9a9a" if is_base else None,
                label=f"{label} (baseline)" if is_base else label, zorder=2 if is_base else 3)
    ax.set_xticks(seeds)
    ax.set_xlabel("seed")
    ax.set_ylabel(metric_name)
    ax.set_title("Repeat scores per seed")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=150)
    plt.close(fig)
    return out_png
