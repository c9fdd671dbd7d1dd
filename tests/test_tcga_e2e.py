"""Fed-TCGA-BRCA end to end on the real FLamby files: the baseline (Linear Cox model) trained,
inferred and scored (C-index, per-client mean) in hardened containers, with a short budget."""
from __future__ import annotations

from pathlib import Path

import pytest

from task_campaign import assert_scored_in_hardened_containers, run_short_campaign

SRC = Path(__file__).resolve().parents[2] / "shared" / "data" / "flamby" / "fed_tcga_brca"
pytestmark = pytest.mark.skipif(not SRC.is_dir(), reason=f"real data not available at {SRC}")


def test_tcga_baseline_end_to_end(sandbox, tmp_path):
    folder, rows = run_short_campaign("tcga", SRC, tmp_path, rounds=1, local_steps=20)
    score = assert_scored_in_hardened_containers(folder, rows[0])
    assert set(score["per_client"]) == {f"site-{i}" for i in range(1, 7)}
    # a C-index: 0.5 is chance; one short round of a linear Cox model already ranks above it
    assert 0.5 < rows[0].score <= 1.0
