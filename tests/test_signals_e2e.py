"""Ctrl-C and SIGTERM stop a campaign at once: the running containers are killed, the interrupted
candidate is left unlogged for --resume, the report is written, and --resume finishes the campaign.

The seconds from the signal to the exit are measured and printed (`-s` shows them); the bound
asserted is far below a phase's timeout (600 s), which is what a phase that held the signal
would cost."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from afr_box.orchestrator.records.runlog import RunLog
from afr_box.policies.schema import load_policy
from afr_box.sandbox.errors import RunInterrupted
from afr_box.sandbox.spec import RunSpec
from task_campaign import one_seed_profile

PROMPT_S = 20.0  # the campaign's cleanup (kill, remove, report) takes a few seconds; a held phase takes minutes


def campaign_cmd(name, runs, data_root, *extra):
    # one seed: the signal's promptness does not depend on the noise-floor runs (resumed with them:
    # test_resume_e2e), which would only add two baseline runs before candidate 0001
    runs.mkdir(parents=True, exist_ok=True)
    profile = one_seed_profile("synthetic", runs.parent)
    return [sys.executable, "-m", "afr_box.orchestrator.cli", "campaign", "synthetic", "--proposer", "hpo",
            "--profile", str(profile), "--max-candidates", "3", "--name", name, "--runs-dir", str(runs),
            "--data-root", str(data_root), "--quiet", *extra]


def containers(sandbox, name, **labels):
    filters = [f"afr.campaign={name}", *(f"afr.{k}={v}" for k, v in labels.items())]
    return sandbox.images.client.containers.list(all=True, filters={"label": filters}, sparse=True)


def wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def interrupt_during(sandbox, data_root, tmp_path, sig: int, cand: str, phase: str):
    """Start a campaign, wait until `cand` runs `phase` (plus a moment, so the phase is busy), send
    `sig`; return (campaign name, runs folder, seconds from the signal to the exit, exit code, log)."""
    name = f"truth-signal-{uuid.uuid4().hex[:8]}"
    runs = tmp_path / "runs"
    log = tmp_path / "campaign.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(campaign_cmd(name, runs, data_root), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: containers(sandbox, name, candidate=cand, phase=phase) or proc.poll() is not None, 400,
                 f"candidate {cand} to start {phase} (log: {log})")
        assert proc.poll() is None, log.read_text()
        time.sleep(2)
        sent = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=300)
        seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"\n{signal.Signals(sig).name} during {cand} {phase}: exit {code} after {seconds:.2f} s")
    return name, runs, seconds, code, log.read_text()


def test_sigint_during_training_stops_at_once_and_resume_finishes(sandbox, data_root, tmp_path):
    name, runs, seconds, code, output = interrupt_during(sandbox, data_root, tmp_path, signal.SIGINT, "0001", "train")
    assert code == 130, output
    assert seconds < PROMPT_S, f"{seconds:.1f} s from SIGINT to exit"
    assert containers(sandbox, name) == []
    rows = RunLog(runs / name / "results.tsv").rows()
    assert [r.candidate for r in rows] == ["0000"]  # 0001 was interrupted: not logged, left for --resume
    assert not (runs / name / "candidates/0001/record.json").exists()
    assert (runs / name / "report.md").is_file() and "0000" in (runs / name / "report.md").read_text()
    line = output.strip().splitlines()[-1]
    assert line.startswith("interrupted (SIGINT): campaign " + name) and "--resume" in line, output
    assert "Traceback" not in output
    assert "stopped by SIGINT" in (runs / name / "campaign.log").read_text()

    done = subprocess.run(campaign_cmd(name, runs, data_root, "--resume"), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = RunLog(runs / name / "results.tsv").rows()
    assert [r.candidate for r in rows] == ["0000", "0001", "0002"]
    assert all(r.status in ("keep", "discard") for r in rows), [(r.status, r.reason) for r in rows]
    assert containers(sandbox, name) == []


def test_sigterm_during_the_baselines_inference_stops_at_once(sandbox, data_root, tmp_path):
    name, runs, seconds, code, output = interrupt_during(sandbox, data_root, tmp_path, signal.SIGTERM, "0000", "infer")
    assert code == 143, output
    assert seconds < PROMPT_S, f"{seconds:.1f} s from SIGTERM to exit"
    assert containers(sandbox, name) == []
    assert RunLog(runs / name / "results.tsv").rows() == []
    assert "interrupted (SIGTERM)" in output


def _sleeper(base_id: str, name: str) -> RunSpec:
    return RunSpec(image=base_id, command=["python", "-c", "import time; time.sleep(600)"], mounts=[],
                   limits=load_policy("scalar-hpo").container, timeout_s=600, name=name,
                   labels={"afr.campaign": name})


def test_a_stopped_executor_kills_its_running_container_and_starts_no_other(sandbox, tmp_path):
    """The mechanism under the campaign's Ctrl-C: stop() is shared by every slot's executor; a run in
    progress ends within a second or two with RunInterrupted, and a later run starts nothing."""
    from afr_box.sandbox.images import find_base
    from afr_box.sandbox.providers import local_sandbox

    base = find_base(sandbox.images)
    executor = local_sandbox().executor
    slot = executor.for_another_slot()
    name = f"truth-stop-{uuid.uuid4().hex[:8]}"
    caught = {}

    def run():
        try:
            slot.run(_sleeper(base.id, name), tmp_path / "a.log")
        except RunInterrupted as exc:
            caught["error"], caught["at"] = exc, time.monotonic()

    worker = threading.Thread(target=run)
    worker.start()
    wait_for(lambda: containers(sandbox, name), 60, "the sleeper to start")
    stopped_at = time.monotonic()
    executor.stop()  # the other slot's executor: the stop is shared
    worker.join(timeout=30)
    assert "error" in caught and caught["at"] - stopped_at < 5, caught
    assert containers(sandbox, name) == []
    with pytest.raises(RunInterrupted, match="not started"):
        executor.run(_sleeper(base.id, name), tmp_path / "b.log")
    assert containers(sandbox, name) == []
