"""Fed-Camelyon16 end to end on a fixture in FLamby's feature layout: the gated-attention MIL
baseline trained on ragged bags, inferred one bag at a time by the fixed predict step and scored
(ROC-AUC, per-client mean) in hardened containers."""
from __future__ import annotations

from fixtures.camelyon_format import write_camelyon_features
from task_campaign import assert_scored_in_hardened_containers, run_short_campaign


def test_camelyon_baseline_end_to_end(sandbox, tmp_path):
    source = write_camelyon_features(tmp_path / "features")
    folder, rows = run_short_campaign("camelyon", source, tmp_path, rounds=2, local_steps=3, batch_size=4)
    score = assert_scored_in_hardened_containers(folder, rows[0])
    assert set(score["per_client"]) == {"site-1", "site-2"}
    assert score["n_params"] == 320_258
    assert 0.0 <= rows[0].score <= 1.0
