"""results.tsv survives a kill -9 of the orchestrator mid-candidate; --resume finishes the
campaign with no lost or duplicated rows, and no containers remain."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from afr_box.orchestrator.records.runlog import RunLog

NAME = "e2e-kill"


def cli(*args, runs, data_root):
    return [sys.executable, "-m", "afr_box.orchestrator.cli", "campaign", "synthetic", "--proposer", "hpo",
            "--max-candidates", "3", "--name", NAME, "--runs-dir", str(runs), "--data-root", str(data_root),
            "--quiet", *args]


def cli_bare(*args, runs, data_root):
    """The campaign command with only what names the campaign (no proposer, seed or cap)."""
    return [sys.executable, "-m", "afr_box.orchestrator.cli", "campaign", "synthetic", "--name", NAME,
            "--runs-dir", str(runs), "--data-root", str(data_root), "--quiet", *args]


def wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def campaign_containers(sandbox, **labels):
    filters = [f"afr.campaign={NAME}", *(f"afr.{k}={v}" for k, v in labels.items())]
    return sandbox.images.client.containers.list(all=True, filters={"label": filters})


def test_kill_9_then_resume(sandbox, data_root, tmp_path):
    runs = tmp_path / "runs"
    log = tmp_path / "campaign.log"  # a file, not a pipe: an unread pipe that fills up would stall the campaign
    with log.open("wb") as out:
        proc = subprocess.Popen(cli(runs=runs, data_root=data_root), stdout=out, stderr=subprocess.STDOUT)
    try:
        # candidate 0001's training container running => the baseline row is logged
        wait_for(lambda: campaign_containers(sandbox, candidate="0001", phase="train") or proc.poll() is not None,
                 300, f"candidate 0001 to start training (campaign log: {log})")
        assert proc.poll() is None, log.read_text()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = RunLog(runs / NAME / "results.tsv").rows()
    assert [r.candidate for r in rows] == ["0000"]
    assert campaign_containers(sandbox), "the killed orchestrator's container should still be there"

    done = subprocess.run(cli("--resume", runs=runs, data_root=data_root), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = RunLog(runs / NAME / "results.tsv").rows()
    assert [r.candidate for r in rows] == ["0000", "0001", "0002"]
    assert all(r.status in ("keep", "discard") for r in rows), [(r.status, r.reason) for r in rows]
    assert campaign_containers(sandbox) == []
    assert (runs / NAME / "report.md").is_file()

    # A resumed campaign goes on as it started: without options it takes its own settings...
    again = subprocess.run(cli_bare("--resume", runs=runs, data_root=data_root), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(RunLog(runs / NAME / "results.tsv").rows()) == 3
    # ...and another seed is refused, saying what differs and how to go on.
    refused = subprocess.run(cli("--resume", "--seed", "5", runs=runs, data_root=data_root), capture_output=True,
                             text=True, timeout=300)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "seed 0 -> 5 differ from what it started with" in refused.stderr and "--force" in refused.stderr

    # A campaign made on another base (another harness) is not resumed on this one: the refusal
    # names the harness files that differ.
    meta_file = runs / NAME / "campaign.json"
    meta = json.loads(meta_file.read_text())
    meta["base_image_id"] = "sha256:" + "0" * 64
    meta["harness_files"]["sandbox/harness/runner.py"] = "0" * 64
    meta_file.write_text(json.dumps(meta))
    refused = subprocess.run(cli("--resume", runs=runs, data_root=data_root), capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2
    line, = refused.stderr.strip().splitlines()
    assert "cannot resume e2e-kill: its base image sha256:000000000000" in line
    assert "harness files changed since it started: sandbox/harness/runner.py" in line


@pytest.mark.docker  # the campaign finds the base image before it opens the campaign folder
def test_resume_without_campaign_is_refused(data_root, tmp_path):
    done = subprocess.run(cli("--resume", runs=tmp_path, data_root=data_root), capture_output=True, text=True)
    assert done.returncode == 2 and "nothing to resume" in done.stderr
