"""The untouched surfaces of the FLamby survival and MIL tasks (tcga, camelyon) pass their own
gate under both policies: knobs within the contract, client.py/job.py keep the NVFlare contract."""
from __future__ import annotations

from pathlib import Path

import pytest

from afr_box.orchestrator.gate.checks import gate_snapshot, glob_matches
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile
from afr_box.tasks.shared.layout import repo_file



@pytest.mark.parametrize("task", ["tcga", "camelyon"])
@pytest.mark.parametrize("policy_name", ["scalar-hpo", "architecture-open"])
def test_baseline_surface_passes_its_own_gate(tmp_path, task, policy_name):
    policy, profile = load_policy(policy_name), load_profile(task)
    snap = tmp_path / "snap"
    for rel in [f"{task}/knobs.yaml", f"{task}/client.py", f"{task}/job.py", f"{task}/models.py", "shared/aggregators.py"]:
        if any(glob_matches(g, rel) for g in policy.globs_for(task)):
            (snap / rel).parent.mkdir(parents=True, exist_ok=True)
            (snap / rel).write_bytes(repo_file(rel).read_bytes())
    result = gate_snapshot(snap, task, policy, profile)
    assert result.ok, result.reason
