"""Progress plot and campaign report rendered from a results.tsv-shaped row list."""
from __future__ import annotations

import pytest

from afr_box.orchestrator.records.runlog import Row
from afr_box.reports.plot import plot_progress
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


@pytest.mark.parametrize("rows", [
    [row(0, "keep", 0.7)],
    [row(0, "crash", None, reason="boom"), row(1, "rejected", None),
     row(2, "literature", None)],
    mixed_rows(),
    [],
], ids=["one-row", "no-scored", "mixed", "empty"])
@pytest.mark.parametrize("higher", [True, False])
def test_plot_writes_png(tmp_path, rows, higher):
    out = plot_progress(rows, tmp_path / "sub" / "progress.png", "accuracy", higher, "t")
    data = out.read_bytes()
    assert len(data) > 0 and data.startswith(PNG_MAGIC)


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
