"""The simulator supervisor: a run whose round takes far longer than the slowest finished one is
a stall; it is killed (its whole process group) and started once more. A run that lost a client
process is stopped within seconds, never restarted, with the site and the cause in its reason."""
from __future__ import annotations

import os
import sys
import textwrap
import time

from afr_box.sandbox.harness.supervise import Watch, death_reason, run_watched, run_with_restart


def script(tmp_path, body: str):
    path = tmp_path / "fake_simulator.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def counted_script(tmp_path, body: str):
    """A fake simulator that counts its starts in tmp_path/attempts (`n` in `body`: this start's number)."""
    attempts = tmp_path / "attempts"
    return attempts, script(tmp_path, textwrap.dedent(f"""
        import os, time
        path = {str(attempts)!r}
        n = int(open(path).read()) + 1 if os.path.exists(path) else 1
        open(path, "w").write(str(n))
        print("Round 0 started.", flush=True)
    """) + textwrap.dedent(body))


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
    rc, stopped = run_watched(cmd, min_s=1.0, factor=2.0, poll_s=0.2)
    assert stopped.kind == "stall" and stopped.reason.startswith("round 2 made no progress") and time.monotonic() - start < 30
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
    rc, stalls, dead = run_with_restart(lambda: cmd, lambda: resets.append(1), min_s=0.5, factor=2.0)
    assert rc == 0 and dead is None and len(stalls) == 1 and resets == [1] and attempts.read_text() == "2"

    attempts.unlink()
    always = script(tmp_path, """
        import time
        for r in range(3):
            print(f"Round {r} started.", flush=True)
            time.sleep(0.1)
        time.sleep(300)
    """)
    rc, stalls, _ = run_with_restart(lambda: always, lambda: None, min_s=0.5, factor=2.0)
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


def test_a_dead_client_ends_the_run_in_seconds_and_is_not_restarted(tmp_path):
    """As NVFlare's simulator: a worker process per client; when one is SIGKILLed (what the OOM
    killer does) the parent logs it, then its server waits for that client forever."""
    attempts, survivor = tmp_path / "attempts", tmp_path / "survivor.pid"
    cmd = script(tmp_path, f"""
        import os, subprocess, sys, time
        path = {str(attempts)!r}
        open(path, "a").write("x")
        print("Round 0 started.", flush=True)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
        open({str(survivor)!r}, "w").write(str(other.pid))  # another client's worker, in its own session
        worker = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
        while worker.poll() is None:
            time.sleep(0.05)
        print(f"2026-01-01 SimulatorClientRunner - ERROR - Subprocess died for client site-2, exit code: "
              f"{{worker.returncode}}", flush=True)
        time.sleep(300)  # the server waits for site-2's result until the phase timeout
    """)
    start = time.monotonic()
    rc, stalls, dead = run_with_restart(lambda: cmd, lambda: None, min_s=120, factor=10.0, poll_s=0.2)
    assert time.monotonic() - start < 10
    assert rc == -1 and stalls == [] and attempts.read_text() == "x"  # stopped once, not started again
    assert dead.startswith("the client process of site-2 died (killed by signal 9 (SIGKILL))")
    time.sleep(0.5)
    assert not _alive(int(survivor.read_text())), "a worker in its own session outlived the stopped run"


def test_a_lost_connection_without_an_exit_code_or_oom_kill_restarts_once_then_fails(tmp_path):
    """NVFlare logs "Communication error" when a client's connection breaks (seen under CPU load
    on the baseline): started again once, as a stall; lost again, it fails as a dead client."""
    attempts, cmd = counted_script(tmp_path, """
        if n == 1:
            print("SimulatorClientRunner - ERROR - Communication error with client site-2: [Errno 104] "
                  "Connection reset by peer", flush=True)
            time.sleep(300)
    """)
    resets = []
    rc, restarts, dead = run_with_restart(lambda: cmd, lambda: resets.append(1), min_s=120, factor=10.0, poll_s=0.2)
    assert rc == 0 and dead is None and resets == [1] and attempts.read_text() == "2"
    assert restarts == ["lost a client: the simulator lost its connection to the client process of site-2 "
                        "(no exit code, no OOM kill)"]

    attempts.unlink()
    always = script(tmp_path, """
        import time
        print("Communication error with client site-1: [Errno 104] Connection reset by peer", flush=True)
        time.sleep(300)
    """)
    start = time.monotonic()
    rc, restarts, dead = run_with_restart(lambda: always, lambda: None, min_s=120, factor=10.0, poll_s=0.2)
    assert time.monotonic() - start < 20
    assert rc == -1 and len(restarts) == 1 and dead.endswith("site-1 (no exit code, no OOM kill) again")


def test_a_lost_client_thread_restarts_the_run_instead_of_waiting_for_the_timeout(tmp_path, monkeypatch):
    """Seen in CI under load: the simulator's thread for one client died connecting to its worker
    ("run_client_thread error: ConnectionResetError"), and the server waited on that client until
    the 600 s limit. Still running after the grace, the run is started again; one that ends by
    itself after such a line (it came at the very end) is left alone."""
    from afr_box.sandbox.harness import supervise

    monkeypatch.setattr(supervise, "THREAD_LOST_GRACE_S", 1.0)
    attempts, cmd = counted_script(tmp_path, """
        print("SimulatorClientRunner - ERROR - run_client_thread error: ConnectionResetError: [Errno 104] "
              "Connection reset by peer", flush=True)
        if n == 1:
            time.sleep(300)
    """)
    start = time.monotonic()
    rc, restarts, dead = run_with_restart(lambda: cmd, lambda: None, min_s=120, factor=10.0, poll_s=0.2)
    assert time.monotonic() - start < 20
    assert rc == 0 and dead is None and attempts.read_text() == "2"
    assert restarts == ["lost a client: the simulator lost the thread that drives a client (ConnectionResetError: "
                        "[Errno 104] Connection reset by peer) and waited on its result"]


def test_a_lost_connection_with_an_oom_kill_counted_is_a_death_at_once(tmp_path):
    cgroup = tmp_path / "cgroup"
    (cgroup / "memory").mkdir(parents=True)
    (cgroup / "memory" / "memory.oom_control").write_text("oom_kill 0\n")
    cmd = script(tmp_path, f"""
        import time
        open({str(cgroup / "memory" / "memory.oom_control")!r}, "w").write("oom_kill 1\\n")  # the kernel killed a worker
        print("Communication error with client site-3: [Errno 104] Connection reset by peer", flush=True)
        time.sleep(300)
    """)
    rc, stopped = run_watched(cmd, min_s=120, factor=10.0, poll_s=0.2, cgroup=cgroup)
    assert stopped.kind == "dead_client" and "the OOM killer killed it" in stopped.reason


def test_an_oom_kill_nvflare_never_logs_still_ends_the_run_naming_the_gone_worker(tmp_path):
    """The simulator may carry on after the OOM killer took a worker, logging nothing: the cgroup's
    counter ends the run, and the worker no longer in /proc names the site."""
    cgroup = tmp_path / "cgroup"
    (cgroup / "memory").mkdir(parents=True)
    events = cgroup / "memory" / "memory.oom_control"
    events.write_text("oom_kill 0\n")
    cmd = script(tmp_path, f"""
        import signal, subprocess, sys, time
        print("Round 0 started.", flush=True)
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)",
                                   "simulator_worker", "--client", "site-2"])
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)",
                                  "simulator_worker", "--client", "site-1"])
        time.sleep(1.5)  # seen by the watch
        open({str(events)!r}, "w").write("oom_kill 1\\n")  # the kernel kills site-2's worker
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        time.sleep(300)  # and the run goes on, saying nothing
    """)
    start = time.monotonic()
    rc, stopped = run_watched(cmd, min_s=120, factor=10.0, poll_s=0.2, cgroup=cgroup, oom_watch=True)
    assert time.monotonic() - start < 15
    assert stopped.kind == "dead_client"
    assert stopped.reason.startswith("the client process of site-2 died (killed by signal 9 (SIGKILL)): the OOM killer")
    # without the watch (a bare run on the host, whose counter other containers move) nothing is read
    events.write_text("oom_kill 0\n")
    quiet = script(tmp_path, f"""
        import time
        open({str(events)!r}, "w").write("oom_kill 5\\n")
        print("Round 0 started.", flush=True)
    """)
    assert run_watched(quiet, min_s=120, factor=10.0, poll_s=0.2, cgroup=cgroup) == (0, None)


def test_an_oom_killed_forked_worker_is_named_by_the_site_brokers_reaped_workers(tmp_path):
    """Workers forked from the fork server carry its command line, so /proc names none of them:
    the site broker's record of reaped workers does (an earlier start's entries are not this
    run's), even when the reap lands a moment after the cgroup counted the kill."""
    cgroup = tmp_path / "cgroup"
    (cgroup / "memory").mkdir(parents=True)
    events = cgroup / "memory" / "memory.oom_control"
    events.write_text("oom_kill 0\n")
    reaped = [("site-2", -9)]  # an earlier start's worker, killed when that start was stopped
    flag = tmp_path / "killed"
    cmd = script(tmp_path, f"""
        import time
        print("Round 0 started.", flush=True)
        time.sleep(1.0)
        open({str(events)!r}, "w").write("oom_kill 1\\n")
        open({str(flag)!r}, "w").write("")
        time.sleep(300)
    """)

    def ended():
        if flag.exists() and len(reaped) == 1:
            time.sleep(0.5)  # the fork server's reap arrives after the counter moved
            reaped.extend([("site-1", 0), ("site-3", -9)])
        return list(reaped)

    rc, stopped = run_watched(cmd, min_s=120, factor=10.0, poll_s=0.2, cgroup=cgroup, oom_watch=True,
                              proc_dir=tmp_path, ended=ended)
    assert stopped.kind == "dead_client"
    assert stopped.reason.startswith("the client process of site-3 died (killed by signal 9 (SIGKILL)): the OOM killer")


def test_a_communication_error_names_the_site_too():
    watch = Watch()
    watch.saw("SimulatorClientRunner - ERROR - Communication error with client site-3: [Errno 104] reset", 1.0)
    assert watch.died == ("site-3", None)
    watch.saw("Subprocess died for client site-1 before second recv, exit code: -9", 2.0)
    assert watch.died == ("site-3", None) and watch.dead == [("site-3", None), ("site-1", -9)]
    assert death_reason("site-3", None, None, others=("site-1",)).startswith(
        "the client process of site-3 died (its connection to the simulator broke) (then site-1 too)")


def test_the_reason_names_the_oom_killer_and_the_memory_limit_when_the_cgroup_counted_a_kill(tmp_path):
    memory = tmp_path / "memory"
    memory.mkdir()
    (memory / "memory.limit_in_bytes").write_text(f"{3 * 2 ** 30}\n")
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert "OOM" not in death_reason("site-1", -9, oom_before=2, root=tmp_path)  # no new kill: another death
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    reason = death_reason("site-1", -9, oom_before=2, root=tmp_path)
    assert reason.startswith("the client process of site-1 died (killed by signal 9 (SIGKILL)): the OOM killer")
    assert "memory limit of 3.0 GiB" in reason
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text(f"{2 ** 30}\n")
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    assert "memory limit of 1.0 GiB" in death_reason("site-2", -9, oom_before=0, root=v2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"
