"""Progress plot and campaign report rendered from a results.tsv-shaped row list."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from afr_box.orchestrator.records.runlog import Row
from afr_box.reports.plot import plot_progress, progress_figure
from afr_box.reports.report import ReportContext, render_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def row(i: int, status: str, score: float | None, desc: str = "", **kw) -> Row:
    cand = f"{i:04d}"
    fields = dict(commit=f"{i:012x}", score=score, runtime_seconds=60.0 + i,
                  budget="rounds=15 clients=4 steps<=250", status=status, target="heart",
                  description=desc or f"try {i}", artifacts=f"candidates/{cand}",
                  candidate=cand, image_id=f"sha256:{i:064x}", surface_hash=f"{i:064x}",
                  policy="scalar-hpo", seed=42, proposer="baseline" if i == 0 else "hpo",
                  finished_at=f"2025-01-01T00:{i:02d}:30Z")
    fields.update(kw)
    return Row(**fields)


def mixed_rows() -> list[Row]:
    return [
        row(0, "keep", 0.7012, "FedAvg baseline"),
        row(1, "discard", 0.69),
        row(2, "keep", 0.7350, "adamw lr=3e-3 | wd=1e-4"),
        row(3, "crash", None, reason="CUDA OOM in round 3 (exit 137)"),
        row(4, "discard", 0.72),
        row(5, "literature", None, "FedProx (Li et al. 2020)", reason="arXiv:1812.06127"),
        row(6, "rejected", None, reason="path tasks/heart/bridge.py outside surface"),
        row(7, "keep", 0.7581, "fedprox mu=1e-3"),
        row(8, "violation", 0.99, reason="wrote /etc/passwd outside /out"),
        row(9, "discard", 0.74),
    ]


def drawn(fig) -> dict:
    """What the progress figure shows, read back from its artists (by gid)."""
    ax = fig.axes[0]
    found = {"lines": {}, "points": {}, "labels": [], "vlines": [], "legend": [], "xlabel": ax.get_xlabel(),
             "texts": [t.get_text() for t in ax.texts]}
    for line in ax.get_lines():
        if line.get_gid() == "literature":
            found["vlines"].append(float(line.get_xdata()[0]))
        elif line.get_gid():
            found["lines"][line.get_gid()] = (list(map(float, line.get_xdata())), list(map(float, line.get_ydata())))
    for coll in ax.collections:
        found["points"][coll.get_gid()] = [tuple(map(float, p)) for p in coll.get_offsets()]
    found["labels"] = [(t.get_text(), tuple(map(float, t.xy))) for t in ax.texts if t.get_gid() == "milestone"]
    legend = ax.get_legend()
    found["legend"] = [t.get_text() for t in legend.get_texts()] if legend else []
    return found


def test_plot_draws_kept_discarded_failures_literature_and_the_running_best():
    fig = progress_figure(mixed_rows(), "accuracy", True, "t")
    d = drawn(fig)
    plt.close(fig)
    assert d["points"]["kept"] == [(0, 0.7012), (2, 0.735), (7, 0.7581)]
    assert d["points"]["discarded"] == [(1, 0.69), (4, 0.72), (9, 0.74)]
    # failures sit on the bottom axis (y in axes units); the violation's 0.99 is never drawn as a score
    assert [x for x, _ in d["points"]["failed"]] == [3, 6, 8]
    assert d["vlines"] == [5]
    # the running best over every scored row (discards too), carried to the last experiment
    assert d["lines"]["running-best"] == ([0, 1, 2, 4, 7, 9, 9], [0.7012, 0.7012, 0.735, 0.735, 0.7581, 0.7581, 0.7581])
    assert d["lines"]["baseline"][1] == [0.7012, 0.7012]
    # the rows that raised the running best are labelled (at most six: the largest gains)
    assert d["labels"] == [("adamw lr=3e-3 | wd=1e-4", (2, 0.735)), ("fedprox mu=1e-3", (7, 0.7581))]
    assert sorted(d["legend"]) == sorted(["running best (every scored row)", "baseline (0.7012)", "literature event",
                                          "discarded", "kept", "crash / rejected / violation"])
    assert d["xlabel"] == "Experiment # (10 rows, 6 scored, 3 kept)"


def test_lower_is_better_keeps_the_lowest_as_the_running_best():
    rows = [row(0, "keep", 0.50), row(1, "keep", 0.40), row(2, "discard", 0.45), row(3, "keep", 0.42),
            row(4, "keep", 0.30, "a much longer description of what changed than fits on the plot")]
    fig = progress_figure(rows, "loss", False, "t")
    d = drawn(fig)
    plt.close(fig)
    # 0003 was kept (a reviewer may keep on another criterion) but does not beat 0.40: the line stays
    assert d["lines"]["running-best"] == ([0, 1, 2, 3, 4, 4], [0.5, 0.4, 0.4, 0.4, 0.3, 0.3])
    assert [x for _, (x, _) in d["labels"]] == [1, 4]
    assert d["labels"][-1][0].endswith("…") and len(d["labels"][-1][0]) < len(rows[4].description)
    assert fig.axes[0].get_ylabel() == "loss (lower is better)"


@pytest.mark.parametrize("rows, text", [
    ([], "no scored candidates yet"),
    ([row(0, "crash", None, reason="boom"), row(1, "rejected", None), row(2, "literature", None)],
     "no scored candidates yet"),
])
def test_plot_without_scores_says_so(rows, text, tmp_path):
    fig = progress_figure(rows, "accuracy", True, "t")
    d = drawn(fig)
    plt.close(fig)
    assert text in d["texts"] and "running-best" not in d["lines"] and "kept" not in d["points"]
    assert [x for x, _ in d["points"].get("failed", [])] == ([0, 1] if rows else [])
    assert d["vlines"] == ([2] if rows else [])
    out = plot_progress(rows, tmp_path / "sub" / "progress.png", "accuracy", True, "t")
    assert out.read_bytes().startswith(PNG_MAGIC)  # and it is written where asked, folders made


def context(rows: list[Row], convention: str = "per_client_mean") -> ReportContext:
    return ReportContext(
        campaign="heart-demo", task="heart", task_title="Fed-Heart-Disease",
        metric_name="accuracy", higher_is_better=True, score_convention=convention,
        policy_name="scalar-hpo", policy_sha256="a" * 64, profile_sha256="b" * 64,
        rows=rows, best_knobs={"optimizer": "sgd", "fedprox_mu": 0.001, "lr": 0.01},
        best_diff="--- a/knobs.yaml\n+++ b/knobs.yaml\n@@ -1 +1 @@\n-fedprox_mu: 0.0\n"
                  "+fedprox_mu: 0.001\n",
        integrity={"verified": 4, "violation": 1, "image_ids": ["sha256:1", "sha256:2"]},
        timings={"0000": {"build": 3.0, "train": 50.2, "score": 1.1},
                 "0007": {"train": 40.0, "verify": 0.4}},
    )


def test_report_contents(tmp_path):
    out = render_report(tmp_path, context(mixed_rows()))
    assert out == tmp_path / "report.md"
    text = out.read_text()
    assert (tmp_path / "progress.png").stat().st_size > 0
    assert "![progress](progress.png)" in text
    assert "| best score | 0.7581 (candidate 0007) |" in text
    assert "| baseline score | 0.7012 (candidate 0000) |" in text
    assert "+0.0569" in text                                  # absolute lift
    assert "```diff\n--- a/knobs.yaml" in text and "+fedprox_mu: 0.001\n```" in text
    assert "FLamby convention" in text and "per-client mean" in text
    assert "CUDA OOM in round 3 (exit 137)" in text
    assert "wrote /etc/passwd outside /out" in text
    assert r"adamw lr=3e-3 \| wd=1e-4" in text                # pipes escaped in cells
    assert "| crash | 1 |" in text and "| keep | 3 |" in text
    assert "| candidate | build (s) | train (s) | score (s) | verify (s) | total (s) |" in text
    assert "| 0000 | 3.0 | 50.2 | 1.1 |  | 54.3 |" in text
    assert "`sha256:2`" in text and "| verified | 4 |" in text
    # a violation's score is never the best
    assert "0.99 (candidate" not in text


def test_report_pooled_and_degenerate(tmp_path):
    ctx = context([row(0, "crash", None, reason="image build failed")], "pooled")
    ctx.best_knobs, ctx.best_diff, ctx.timings, ctx.integrity = {}, "", {}, {}
    text = render_report(tmp_path, ctx).read_text()
    assert "LEAF convention" in text and "| best score | n/a |" in text
    assert "image build failed" in text and "No surface changes" in text
    with pytest.raises(ValueError):
        context([], "weighted")


def test_diff_with_backticks_keeps_fence(tmp_path):
    ctx = context(mixed_rows())
    ctx.best_diff = "+x = '```'\n"
    text = render_report(tmp_path, ctx).read_text()
    assert "````diff\n+x = '```'\n````" in text


# --- Fig. 1 as in the paper --------------------------------------------------------------------

from afr_box.reports.plot import literature_label, milestones, running_best, summary_lines  # noqa: E402
from afr_box.reports.report import plain  # noqa: E402
from afr_box.reports.yrange import robust_range  # noqa: E402


def femnist_like() -> list[Row]:
    rows = [row(0, "keep", 0.640, "baseline")]
    rows += [row(i, "discard", 0.62 + 0.004 * (i % 5)) for i in range(1, 8)]
    rows += [row(8, "discard", 0.06, "lr 0.5: collapsed"), row(9, "keep", 0.652, "lr 0.05")]
    return rows


def test_a_collapsed_candidate_does_not_squash_the_y_range():
    rows = femnist_like()
    steps = running_best(rows, True)
    lo, hi = robust_range([r.score for r in rows], [rows[0].score, rows[9].score] + [b for _, b in steps])
    assert 0.55 < lo < 0.62 and 0.652 < hi < 0.70  # 0.06 lies outside: drawn as a clipped marker
    assert robust_range([0.5, 0.6], y_min=0.0, y_max=1.0) == (0.0, 1.0)
    assert robust_range([None, float("nan")]) is None


def test_running_best_follows_every_scored_row_not_only_kept_ones():
    rows = [row(0, "keep", 0.70), row(1, "discard", 0.705), row(2, "crash", None), row(3, "keep", 0.72),
            row(4, "literature", None)]
    assert running_best(rows, True) == [(0, 0.70), (1, 0.705), (3, 0.72)]
    assert running_best(rows, False) == [(0, 0.70), (1, 0.70), (3, 0.70)]


def test_at_most_six_milestones_the_largest_gains():
    rows = [row(0, "keep", 0.50)] + [row(i, "keep", 0.50 + 0.01 * i + (0.05 if i in (3, 17) else 0))
                                     for i in range(1, 21)]
    marks = milestones(rows, True)
    assert len(marks) == 6 and {3} <= set(marks) and marks == sorted(marks)


def test_literature_marker_and_summary_box_say_what_happened():
    lit = row(5, "literature", None, "literature: FedProx against drift [src: arXiv:1812.06127]",
              candidate="L001", runtime_seconds=95)
    assert literature_label(lit) == "L001 · 1 min 35 s · FedProx against drift"
    lines = summary_lines(mixed_rows(), True, 3725.0)
    assert lines[0] == "baseline  0.7012" and lines[1] == "best      0.7581 (0007)"
    assert lines[2].startswith("lift      +0.0569") and "runtime   1 h 02 min" in lines
    assert "candidates 9 (3 kept, 3 failed)" in lines and "literature 1 event(s), 1 min 05 s" in lines


def test_running_candidates_are_drawn_in_blue(tmp_path):
    from PIL import Image

    out = plot_progress(mixed_rows(), tmp_path / "p.png", "accuracy", True, "t", running=[("0010", "x")])
    pixels = Image.open(out).convert("RGB").getcolors(maxcolors=1 << 20)
    assert any(r < 60 and 100 < g < 140 and b > 160 for _, (r, g, b) in pixels)  # matplotlib's blue (#1f77b4)
    out = plot_progress(mixed_rows(), tmp_path / "q.png", "accuracy", True, "t")
    pixels = Image.open(out).convert("RGB").getcolors(maxcolors=1 << 20)
    assert not any(r < 60 and 100 < g < 140 and b > 160 for _, (r, g, b) in pixels)


def test_candidate_text_is_inert_in_the_report():
    assert plain("<img src=x onerror=alert(1)> *bold* [link](http://x) `code` a|b") == \
        "&lt;img src=x onerror=alert(1)&gt; &#42;bold&#42; &#91;link&#93;(http://x) &#96;code&#96; a\\|b"


# --- per-round curves ---------------------------------------------------------------------------

def test_curves_mark_nan_and_blown_up_rounds(tmp_path):
    from afr_box.reports.curves import blown_up, plot_round_curves, series
    from afr_box.sandbox.harness.round_metrics import RoundMetrics

    metrics = RoundMetrics.model_validate({"rounds": [
        {"round": 0, "aggregate": {"global_accuracy": 0.5, "train_loss": 0.7}},
        {"round": 1, "aggregate": {"global_accuracy": 0.6, "train_loss": None}, "nonfinite": ["site-1/train_loss"]},
        {"round": 2, "aggregate": {"global_accuracy": 0.1, "train_loss": 5e9}}]})
    rounds, values, bad = series(metrics, "train_loss")
    assert rounds == [0, 1, 2] and values == [0.7, None, 5e9] and bad == [1]
    assert 5e9 > blown_up([0.7, 0.6, 5e9])
    assert plot_round_curves({"0000 (baseline)": metrics}, tmp_path / "r.png").read_bytes().startswith(PNG_MAGIC)
    assert plot_round_curves({"0000": RoundMetrics()}, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_a_long_title_is_wrapped_inside_the_figure():
    title = ("reports-femnist-collapse: LEAF FEMNIST (handwritten characters by writer, 62 classes; "
             "writers grouped into 5 clients)")
    fig = progress_figure(mixed_rows(), "accuracy", True, title, wall_s=901.0)
    fig.canvas.draw()
    text = fig.axes[0].title
    box = text.get_window_extent(fig.canvas.get_renderer())
    assert "\n" in text.get_text() and "runtime 15 min 01 s" in text.get_text()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (box, fig.bbox.width)
