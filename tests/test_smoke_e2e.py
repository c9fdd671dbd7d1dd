"""`afr-box try --smoke` on the host through a real engine: heart's smoke budget through the same
gate, build and containers as a candidate, its training step a fraction of a full candidate's, and no
row in results.tsv (the jailed agent's smoke run through the channel: tests/test_jail_e2e.py).

The comparison is of the training step (what the smoke budget cuts), not of wall time: the smoke
run builds the image the full candidate then reuses, and with NVFlare's floor cut (issue 20) a
candidate's fixed costs (build, container starts, infer, score) are most of its wall time.
"""
from __future__ import annotations

import os
import subprocess
import sys
import json
import time
from dataclasses import replace
from pathlib import Path

from isolation import containers_of, run_name


def afr(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "afr-box"), *args]


def test_try_smoke_trains_heart_in_a_fraction_of_a_candidates_time_and_adds_no_row(sandbox, heart_ready,
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
    smoke_record = campaign / "smoke" / "candidates" / "s001"
    smoke_timings = json.loads((smoke_record / "timings.json").read_text())
    smoke_stats = json.loads((smoke_record / "train" / "train_stats.json").read_text())

    # the same surface as a full candidate, through the same containers (its image is the smoke run's)
    setup = replace(workspace_setup(open_workspace(tmp_path / "ws")), campaign_dir=tmp_path / "full")
    baseline = BaselineProposer(setup.task, setup.policy).propose(0, tmp_path / "proposals")
    start = time.monotonic()
    outcome = evaluate(setup, "0000", baseline)
    full_s = time.monotonic() - start
    assert outcome.score is not None
    assert not (campaign / "results.tsv").exists()
    assert containers_of(sandbox.executor.client, campaign) == []
    full_record = tmp_path / "full" / "candidates" / "0000"
    full_timings = json.loads((full_record / "timings.json").read_text())
    full_stats = json.loads((full_record / "train" / "train_stats.json").read_text())
    print(f"\nheart: try --smoke {smoke_s:.1f} s (image build included), training {smoke_timings['train']:.1f} s; "
          f"a full candidate {full_s:.1f} s, training {full_timings['train']:.1f} s")
    assert {"gate", "build", "train", "infer", "score"} <= smoke_timings.keys()
    # the smoke budget is what ran (heart's: 1 round on 2 sites; the candidate's: 15 on 4)...
    assert (smoke_stats["rounds_completed"], sorted(smoke_stats["site_cpu_s"])) == (1, ["site-1", "site-2"])
    assert (full_stats["rounds_completed"], len(full_stats["site_cpu_s"])) == (15, 4)
    # ...and it shows in the training step (most of what is left is the fixed cost of one NVFlare run)
    assert smoke_timings["train"] < 0.85 * full_timings["train"]
