"""Fed-IXI end to end: FLamby-format fixture -> bridge -> baseline U-Net trained, inferred and
scored in hardened containers (1 round, 1 local step of batch 2 per center)."""
from __future__ import annotations

from fixtures.ixi_format import write_ixi_source
from task_campaign import assert_scored_in_hardened_containers, run_short_campaign


def test_ixi_baseline_scores_in_hardened_containers(sandbox, tmp_path):
    source = write_ixi_source(tmp_path / "src", train=2, test=1)
    folder, rows = run_short_campaign("ixi", source, tmp_path, options={"subset": True}, rounds=1, local_steps=1)
    assert len(rows) == 1
    score = assert_scored_in_hardened_containers(folder, rows[0])
    assert score["n_params"] == 246_156 + 512 + 9        # FLamby's U-Net + batch-norm statistics and counters
    assert set(score["per_client"]) == {"site-1", "site-2", "site-3"}
    assert 0.0 < score["score"] <= 1.0
