"""`afr-box try --smoke` on the host through a real engine: heart's smoke budget through the same
gate, build and containers as a candidate, in a fraction of a full candidate's time, and no row in
results.tsv (the jailed agent's smoke run through the channel: tests/test_jail_e2e.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from isolation import containers_of, run_name


def afr(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "afr-box"), *args]


def test_try_smoke_runs_heart_in_a_fraction_of_a_candidates_time_and_adds_no_row(sandbox, heart_ready,
                                                                                  tmp_path):
    from afr_box.orchestrator.external.attempt import workspace_setup
    from afr_box.orchestrator.external.workspace import open_workspace
    from afr_box.orchestrator.pipeline.evaluate import evaluate
    from afr_box.orchestrator.proposers.baseline import BaselineProposer

    name = run_name("smoke-e2e")
    env = {**os.environ, "AFR_DATA_ROOT": str(heart_ready)}
    subprocess.run(afr("workspace", "init", "heart", "--name", name, "--runs-dir", str(tmp_path / "runs"),
                       "--dir", str(tmp_path / "ws")), env=env, check=True, capture_output=True)
    campaign = tmp_path / "runs" / name
    start = time.monotonic()
    done = subprocess.run(afr("try", "--smoke", "-m", "the baseline, smoke budget"), cwd=tmp_path / "ws", env=env,
                          capture_output=True, text=True, timeout=600)
    smoke_s = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PASSED: gate, build, train, infer and score all went through" in done.stdout
    assert "score:" not in done.stdout and not (campaign / "results.tsv").exists()
    assert (campaign / "smoke" / "candidates" / "s001" / "timings.json").is_file()

    # the same surface as a full candidate, through the same containers (its image is the smoke run's)
    setup = replace(workspace_setup(open_workspace(tmp_path / "ws")), campaign_dir=tmp_path / "full")
    baseline = BaselineProposer(setup.task, setup.policy).propose(0, tmp_path / "proposals")
    start = time.monotonic()
    outcome = evaluate(setup, "0000", baseline)
    full_s = time.monotonic() - start
    assert outcome.score is not None
    assert not (campaign / "results.tsv").exists()
    assert containers_of(sandbox.executor.client, campaign) == []
    print(f"\nheart: try --smoke {smoke_s:.1f} s (image build included) vs a full candidate {full_s:.1f} s")
    assert smoke_s < 0.8 * full_s
