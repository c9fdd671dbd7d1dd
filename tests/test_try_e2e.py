"""`afr-box try` as an agent's shell runs it, through a real engine: the candidate is the surface as
it was when `try` started, however the workspace changes while it runs; SIGTERM mid-training
leaves no container; a try killed with -9 leaves its container, which the next try removes.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from afr_box.orchestrator.gate.surface import surface_hash
from afr_box.orchestrator.records.runlog import RunLog

CAMPAIGN = "jail-try-e2e"


def afr(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "afr-box"), *args]


@pytest.fixture(scope="module")
def ws(sandbox, data_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("try")
    env = {**os.environ, "AFR_DATA_ROOT": str(data_root)}
    subprocess.run(afr("workspace", "init", "synthetic", "--policy", "scalar-hpo", "--name", CAMPAIGN,
                       "--runs-dir", str(work / "runs"), "--dir", str(work / "ws")), env=env, check=True,
                   capture_output=True)
    return work / "ws", work / "runs" / CAMPAIGN, env


def campaign_containers(sandbox, phase: str | None = None) -> list:
    labels = [f"afr.campaign={CAMPAIGN}"] + ([f"afr.phase={phase}"] if phase else [])
    return sandbox.executor.client.containers.list(all=True, filters={"label": labels})


def start_try(ws_dir: Path, env: dict, message: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(afr("try", "-m", message), cwd=ws_dir, env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)


def wait_for_training(sandbox, proc: subprocess.Popen, log: Path, candidate: str, timeout: float = 600,
                      not_ids: frozenset = frozenset()) -> None:
    """Until the candidate's training container runs (not the baseline's, nor one of `not_ids`:
    an earlier try's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        running = [c for c in campaign_containers(sandbox, "train")
                   if c.labels.get("afr.candidate") == candidate and c.status == "running" and c.id not in not_ids]
        if running:
            time.sleep(1)  # into training
            return
        time.sleep(0.5)
    raise AssertionError(f"candidate {candidate} never started training: {log.read_text()[-2000:]}")


def test_a_workspace_rewritten_during_try_gives_the_snapshot_taken_at_the_start(ws, tmp_path):
    ws_dir, campaign, env = ws
    knobs = ws_dir / "surface" / "synthetic" / "knobs.yaml"
    knobs.write_text(knobs.read_text().replace("lr: 0.05", "lr: 0.07"))
    shutil.copytree(ws_dir / "surface", tmp_path / "expected")
    expected = surface_hash(tmp_path / "expected")
    proc = start_try(ws_dir, env, "knobs: lr 0.05 -> 0.07", tmp_path / "try.log")
    rewrites, done = [0], threading.Event()

    def rewrite():  # an agent that keeps editing (or resets the workspace) while its try runs
        while not done.is_set():
            knobs.write_text(f"lr: {random.random()}\noptimizer: adamw\n")
            rewrites[0] += 1
            time.sleep(0.05)

    while "surface copied at" not in (tmp_path / "try.log").read_text():  # the snapshot is taken
        assert proc.poll() is None, (tmp_path / "try.log").read_text()
        time.sleep(0.05)
    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        assert proc.wait(timeout=1500) == 0, (tmp_path / "try.log").read_text()[-3000:]
    finally:
        done.set()
        writer.join()
    rows = {r.candidate: r for r in RunLog(campaign / "results.tsv").rows()}
    tried = rows["0001"]
    assert rewrites[0] > 100, rewrites
    assert tried.surface_hash == expected and tried.score is not None, tried
    assert (campaign / "candidates/0001/surface/synthetic/knobs.yaml").read_text() == \
        (tmp_path / "expected/synthetic/knobs.yaml").read_text()
    assert "[snapshot 20" in tried.description
    print(f"\n{rewrites[0]} rewrites during the try; candidate 0001 = the snapshot at the start ({expected[:12]})")


def test_sigkill_leaves_a_container_the_next_try_removes_and_sigterm_leaves_none(ws, sandbox, tmp_path):
    ws_dir, campaign, env = ws
    knobs = ws_dir / "surface" / "synthetic" / "knobs.yaml"
    # The most local steps the profile allows: training lasts long enough that the kill lands in it
    # (a short one can end, and its container be removed, between the check and the kill).
    knobs.write_text("lr: 0.03\nlocal_steps: 100\n")
    rows_before = RunLog(campaign / "results.tsv").rows()
    nxt = f"{max(int(r.candidate) for r in rows_before if r.candidate.isdigit()) + 1:04d}"

    killed = start_try(ws_dir, env, "knobs: lr 0.03, 100 local steps", tmp_path / "kill9.log")
    wait_for_training(sandbox, killed, tmp_path / "kill9.log", nxt)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    left = frozenset(c.id for c in campaign_containers(sandbox))
    assert left, "a try killed with -9 cannot clean up: its container stays"

    stopped = start_try(ws_dir, env, "knobs: lr 0.03, 100 local steps", tmp_path / "term.log")
    wait_for_training(sandbox, stopped, tmp_path / "term.log", nxt, not_ids=left)
    log = (tmp_path / "term.log").read_text()
    assert "removed 1 leftover container(s) of an earlier try" in log, log
    assert len(campaign_containers(sandbox)) == 1  # the leftover is gone; this try's own training runs
    start = time.monotonic()
    stopped.send_signal(signal.SIGTERM)
    code = stopped.wait(timeout=120)
    log = (tmp_path / "term.log").read_text()
    assert code == 128 + signal.SIGTERM, log
    assert "interrupted by SIGTERM: the candidate is not logged and its containers are removed" in log
    assert campaign_containers(sandbox) == []
    assert RunLog(campaign / "results.tsv").rows() == rows_before  # no row, nothing recorded lost
    print(f"\nSIGTERM mid-training: exit {code} after {time.monotonic() - start:.1f} s, no container left")
