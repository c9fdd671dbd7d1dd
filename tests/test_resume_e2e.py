"""results.tsv survives a kill -9 of the orchestrator mid-candidate; --resume finishes the
campaign with no lost or duplicated rows, and no containers remain."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from afr_box.orchestrator.records.owner import folder_id
from afr_box.orchestrator.records.runlog import RunLog
from isolation import run_name

NAME = run_name("e2e-kill")


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


def kill_9_when(command: list[str], log: Path, running, what: str, timeout: float) -> None:
    """Start `command` (output to `log`: a file, not a pipe, which would stall the campaign when
    full), wait until `running()` holds, then kill it with -9."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: running() or proc.poll() is not None, timeout, f"{what} (log: {log})")
        assert proc.poll() is None, log.read_text()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def campaign_containers(sandbox, runs, **labels):
    """This run's containers (by its folder: another run may use the campaign name at the same time)."""
    filters = [f"afr.folder={folder_id(runs / NAME)}", *(f"afr.{k}={v}" for k, v in labels.items())]
    return sandbox.images.client.containers.list(all=True, filters={"label": filters})


def test_kill_9_then_resume(sandbox, data_root, tmp_path):
    runs = tmp_path / "runs"
    # candidate 0001's training container running => the baseline row is logged
    kill_9_when(cli(runs=runs, data_root=data_root), tmp_path / "campaign.log",
                lambda: campaign_containers(sandbox, runs, candidate="0001", phase="train"),
                "candidate 0001 to start training", 300)
    rows = RunLog(runs / NAME / "results.tsv").rows()
    assert [r.candidate for r in rows] == ["0000"]
    assert campaign_containers(sandbox, runs), "the killed orchestrator's container should still be there"

    done = subprocess.run(cli("--resume", runs=runs, data_root=data_root), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = RunLog(runs / NAME / "results.tsv").rows()
    assert [r.candidate for r in rows] == ["0000", "0001", "0002"]
    assert all(r.status in ("keep", "discard") for r in rows), [(r.status, r.reason) for r in rows]
    assert campaign_containers(sandbox, runs) == []
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
    assert f"cannot resume {NAME}: its base image sha256:000000000000" in line
    assert "harness files changed since it started: sandbox/harness/runner.py" in line


@pytest.mark.docker  # the campaign finds the base image before it opens the campaign folder
def test_resume_without_campaign_is_refused(data_root, tmp_path):
    done = subprocess.run(cli("--resume", runs=tmp_path, data_root=data_root), capture_output=True, text=True)
    assert done.returncode == 2 and "nothing to resume" in done.stderr


OPTUNA = "e2e-optuna"
SAME = ("candidate", "commit", "surface_hash", "score", "status", "description", "seed", "proposer", "reason")


def test_optuna_campaign_killed_mid_candidate_proposes_what_an_uninterrupted_one_does(sandbox, data_root, tmp_path):
    """TPE starts guided search after 5 trials: killed during candidate 0004, the resumed campaign
    rebuilds the study from its records and logs the very rows of an uninterrupted campaign,
    the guided candidates 0006 and 0007 included."""
    from task_campaign import shrunk_profile

    profile = shrunk_profile("synthetic", tmp_path, rounds=2)

    def optuna_cli(name, *extra):
        return [sys.executable, "-m", "afr_box.orchestrator.cli", "campaign", "synthetic", "--profile", str(profile),
                "--proposer", "optuna", "--sampler", "tpe", "--seed", "7", "--max-candidates", "8", "--name", name,
                "--runs-dir", str(tmp_path / "runs"), "--data-root", str(data_root), "--quiet", *extra]

    # The uninterrupted campaign runs beside the killed-and-resumed one (their containers mostly
    # wait on NVFlare's round trips, so the two overlap on two cores): each is its own folder.
    straight_log = tmp_path / "straight.log"
    with straight_log.open("wb") as out:
        straight = subprocess.Popen(optuna_cli("straight"), stdout=out, stderr=subprocess.STDOUT)
    try:
        kill_9_when(optuna_cli(OPTUNA), tmp_path / "optuna.log", lambda: sandbox.images.client.containers.list(
            all=True, filters={"label": [f"afr.campaign={OPTUNA}", "afr.candidate=0004", "afr.phase=train"]}),
            "candidate 0004 to start training", 1200)
        assert [r.candidate for r in RunLog(tmp_path / "runs" / OPTUNA / "results.tsv").rows()] == ["0000", "0001",
                                                                                                  "0002", "0003"]
        resumed = subprocess.run(optuna_cli(OPTUNA, "--resume"), capture_output=True, text=True, timeout=1800)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert straight.wait(timeout=1800) == 0, straight_log.read_text()
    finally:
        if straight.poll() is None:  # the test failed before it ended
            straight.kill()
    cells = lambda name: [tuple(getattr(r, c) for c in SAME) for r in RunLog(tmp_path / "runs" / name / "results.tsv").rows()]
    assert cells(OPTUNA) == cells("straight")
    assert len(cells(OPTUNA)) == 8 and len({c[2] for c in cells(OPTUNA)}) == 8  # eight different candidates
    assert "rebuilding the study" not in (tmp_path / "runs" / OPTUNA / "campaign.log").read_text()
