"""The registered variants and SCAFFOLD through the real sandbox (gate, build, hardened NVFlare run,
infer, score): each scores; SCAFFOLD's control variates make its model differ from FedAvg's."""
from __future__ import annotations

import numpy as np
import yaml

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.records.runlog import RunLog
from afr_box.tasks.shared.layout import repo_file
from task_campaign import shrunk_profile

VARIANTS = {"1-scaffold": {"aggregator": "scaffold"}, "2-mlp": {"model": "mlp"}, "3-quadratic": {"model": "quadratic"}}


def test_variants_and_scaffold_score_in_the_sandbox(sandbox, heart_ready, tmp_path):
    snaps = tmp_path / "snaps"
    base = yaml.safe_load(repo_file("heart/knobs.yaml").read_text())
    for name, change in VARIANTS.items():
        (snaps / name / "surface/heart").mkdir(parents=True)
        (snaps / name / "surface/heart/knobs.yaml").write_text(yaml.safe_dump({**base, **change}))
    profile = shrunk_profile("heart", tmp_path, rounds=3)
    folder = run_campaign(CampaignOptions(task="heart", proposer="snapshots", snapshots=snaps, max_candidates=4,
                                          name="mechanisms", runs_dir=tmp_path / "runs", data_root=heart_ready,
                                          profile=profile))
    rows = RunLog(folder / "results.tsv").rows()
    assert [r.status in ("keep", "discard") for r in rows] == [True] * 4, [(r.status, r.reason) for r in rows]
    baseline = np.load(folder / "candidates/0000/train/model.npz")
    scaffold = np.load(folder / "candidates/0001/train/model.npz")
    assert baseline.files == scaffold.files
    assert any(not np.array_equal(baseline[k], scaffold[k]) for k in baseline.files)
    assert sorted(np.load(folder / "candidates/0002/train/model.npz").files) == ["net.0.bias", "net.0.weight",
                                                                                "net.2.bias", "net.2.weight"]
