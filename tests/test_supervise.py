"""The simulator supervisor: a run whose round takes far longer than the slowest finished one is
a stall; it is killed (its whole process group) and started once more."""
from __future__ import annotations

import os
import sys
import textwrap
import time

from afr_box.sandbox.harness.supervise import Watch, run_watched, run_with_restart


def script(tmp_path, body: str):
    path = tmp_path / "fake_simulator.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def test_a_round_that_never_ends_is_a_stall_once_rounds_have_a_known_length():
    watch = Watch()
    assert watch.stalled(1000.0, min_s=1, factor=2) is None          # nothing seen: no judgement
    watch.saw("   Round 0 started.   ", 0.0)
    assert watch.stalled(1000.0, min_s=1, factor=2) is None          # no finished round yet
    watch.saw("Round 1 started.", 1.0)
    watch.saw("Round 2 started.", 2.5)                               # slowest finished round: 1.5 s
    assert watch.stalled(5.0, min_s=1, factor=2) is None             # 2.5 s in round 2 < 3 s
    assert watch.stalled(6.0, min_s=1, factor=2) == \
        "round 2 made no progress for 4 s (slowest finished round 1.5 s)"
    assert watch.stalled(6.0, min_s=10, factor=2) is None            # the floor holds


def test_a_stalled_run_is_killed_with_its_children(tmp_path):
    marker = tmp_path / "child.pid"
    cmd = script(tmp_path, f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        open({str(marker)!r}, "w").write(str(child.pid))
        for r in range(3):
            print(f"Round {{r}} started.", flush=True)
            time.sleep(0.2)
        time.sleep(300)  # round 2 never ends
    """)
    start = time.monotonic()
    rc, reason = run_watched(cmd, min_s=1.0, factor=2.0, poll_s=0.2)
    assert reason and reason.startswith("round 2 made no progress") and time.monotonic() - start < 30
    child = int(marker.read_text())
    time.sleep(0.5)
    assert not _alive(child), "the stalled run's child process survived"


def test_a_stall_restarts_the_run_once_and_a_second_stall_fails(tmp_path):
    attempts = tmp_path / "attempts"
    cmd = script(tmp_path, f"""
        import os, time
        path = {str(attempts)!r}
        n = int(open(path).read()) + 1 if os.path.exists(path) else 1
        open(path, "w").write(str(n))
        for r in range(3):
            print(f"Round {{r}} started.", flush=True)
            time.sleep(0.1)
        if n == 1:
            time.sleep(300)  # the first start stalls, the second finishes
    """)
    resets = []
    rc, stalls = run_with_restart(lambda: cmd, lambda: resets.append(1), min_s=0.5, factor=2.0)
    assert rc == 0 and len(stalls) == 1 and resets == [1] and attempts.read_text() == "2"

    attempts.unlink()
    always = script(tmp_path, """
        import time
        for r in range(3):
            print(f"Round {r} started.", flush=True)
            time.sleep(0.1)
        time.sleep(300)
    """)
    rc, stalls = run_with_restart(lambda: always, lambda: None, min_s=0.5, factor=2.0)
    assert rc == -1 and len(stalls) == 2


def test_a_healthy_run_is_left_alone(tmp_path):
    cmd = script(tmp_path, """
        import time
        for r in range(4):
            print(f"Round {r} started.", flush=True)
            time.sleep(0.3)
        raise SystemExit(3)
    """)
    assert run_watched(cmd, min_s=5.0, factor=10.0, poll_s=0.1) == (3, None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"
