"""Fed-ISIC2019 end to end: FLamby-format fixture -> bridge (with a weights file) -> the full
EfficientNet-b0 baseline trained, inferred and scored in hardened containers (1 round, 1 local
step of batch 2 per center)."""
from __future__ import annotations

import numpy as np

from afr_box.tasks.isic import pretrained
from fixtures.isic_format import write_isic_source
from task_campaign import assert_scored_in_hardened_containers, run_short_campaign


def test_isic_baseline_scores_in_hardened_containers(sandbox, tmp_path):
    source = write_isic_source(tmp_path / "src", train=2, test=1)
    rng = np.random.default_rng(0)   # stands in for ImageNet weights: an 8-class-free b0 file
    weights = {k: (rng.normal(size=s) * 0.05).astype(np.float32) if "running_var" not in k else np.ones(s, np.float32)
               for k, s in pretrained.b0_shapes(1000).items()}
    np.savez(tmp_path / "b0.npz", **weights)
    folder, rows = run_short_campaign("isic", source, tmp_path, options={"subset": True, "weights": str(tmp_path / "b0.npz")},
                                      rounds=1, local_steps=1, batch_size=2)
    assert len(rows) == 1
    score = assert_scored_in_hardened_containers(folder, rows[0])
    assert score["n_params"] == 4_017_796 + 42_016 + 49  # EfficientNet-b0, 8-class head, BN statistics and counters
    assert set(score["per_client"]) == {f"site-{i}" for i in range(1, 7)}
    assert 0.0 <= score["score"] <= 1.0
    assert (tmp_path / "afr-data" / "isic" / "train" / "assets" / pretrained.ASSET).is_file()
