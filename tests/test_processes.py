"""The stray-process scan sees what it must kill: a process whose leader thread has exited while
another thread runs on (state Z at the leader) is still running."""
import os
import subprocess
import sys
import time

from afr_box.sandbox.harness.processes import other_processes

# The leader exits with pthread_exit; the second thread keeps the process alive.
ZOMBIE_LEADER = """
import ctypes, threading, time
threading.Thread(target=lambda: time.sleep(60)).start()
ctypes.CDLL(None).pthread_exit(None)
"""


def _leader_state(pid: int) -> str:
    raw = open(f"/proc/{pid}/stat").read()
    return raw[raw.rfind(")") + 2]


def test_a_zombie_leader_with_a_live_thread_is_a_running_process():
    proc = subprocess.Popen([sys.executable, "-c", ZOMBIE_LEADER])
    try:
        deadline = time.monotonic() + 20
        while _leader_state(proc.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _leader_state(proc.pid) == "Z"  # what the old scan skipped as dead
        assert proc.pid in other_processes({os.getpid()})
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in other_processes({os.getpid()})  # reaped: gone


def test_a_plain_zombie_is_not_a_running_process():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 20
    while _leader_state(proc.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert _leader_state(proc.pid) == "Z"
        assert proc.pid not in other_processes({os.getpid()})
    finally:
        proc.wait()
