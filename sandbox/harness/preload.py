"""A fork server for the simulator's client workers: torch, torch._dynamo and NVFlare are
imported once, and each worker is forked from that state instead of importing them again.

    python -I -m afr_box.sandbox.harness.preload <control fd> <isolate: 1|0>
    (started by the site broker, sites.py, with the trusted launcher environment)

A fresh worker spends about 4 s of CPU importing these (torch 1.4 s; torch._dynamo 1.7 s, which
torch.optim pulls in at the first optimiser); heart's four workers on two cores paid it before
their first round, every candidate. Forked from here, a worker starts at once.

Trust: this process is started by the trusted runner before any candidate code has run, with
-I (no PYTHONPATH, no user site, no current folder: nothing a candidate wrote can be imported),
imports only installed packages, runs no torch operation (so no thread pool exists to break in a
fork), is single-threaded when it forks, and makes itself undumpable. Its only channel is a
socketpair the broker made, which no other process holds: a forked child closes it before
anything else, then restricts itself to its own site, folders and TCP ports (Landlock) and to no
other channel (channel_filter.py), takes the environment the
simulator gave the worker, and runs site_worker.py.
Each child's exit status and CPU seconds go back to the broker (wait4 here, outside every
candidate process). A worker's CPU seconds include every process it started: those it waited for
through its own wait4, and those it left behind, which the kernel hands to this process (a child
subreaper) and which are charged to the site whose session they are in when they end (recorded
apart, as unattributed, when they left it: setsid). At stop, everything still running below this process is killed
and reaped first, so nothing a worker started runs on uncounted.
"""
from __future__ import annotations

import ctypes
import importlib
import json
import os
import random
import select
import signal
import socket
import sys
import time
import traceback

from afr_box.sandbox.harness.processes import PR_SET_DUMPABLE, PROC, make_undumpable, stat_fields
from afr_box.sandbox.harness.sites import kill_session

PRELOAD = (
    "numpy", "torch", "torch._dynamo", "torch.optim",
    "nvflare.private.fed.app.simulator.simulator_worker",
    "nvflare.client", "nvflare.app_common.executors.client_api.in_process_backend",
    "afr_box.sandbox.harness.site_worker", "afr_box.sandbox.harness.landlock", "afr_box.sandbox.harness.channel_filter",
    "afr_box.tasks.shared.site_env",
)
MAX_MESSAGE = 1 << 20
REAP_S = 0.05
STOP_S = 3.0  # at stop: how long killing and reaping what is left may take
PR_SET_CHILD_SUBREAPER = 36


def serve(control: socket.socket, isolate: bool) -> None:
    """Fork a worker for each request until the broker says stop (or closes the channel); then
    kill and reap everything below this process and say so."""
    from afr_box.sandbox.harness.run_file import RunFile
    from afr_box.tasks.shared.site_env import data_dir, run_file

    make_undumpable()
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # what a worker leaves behind comes here
    sites, data = RunFile.read(run_file()).sites, data_dir()
    for name in PRELOAD:
        importlib.import_module(name)
    sys.stdout.flush()
    sys.stderr.flush()
    children: dict[int, str] = {}  # worker pid -> request id
    sessions: dict[int, str] = {}  # worker pid (its session's id) -> site, kept after it exits
    while True:
        ready, _, _ = select.select([control], [], [], REAP_S)
        if ready:
            try:
                message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 2)
            except OSError:
                break
            if not message:
                break  # the broker is gone
            request = json.loads(message)
            if request.get("stop"):
                break
            pid = os.fork()
            if pid == 0:
                _child(control, request, fds, isolate, (data, sites))
            for fd in fds:
                os.close(fd)
            children[pid], sessions[pid] = request["id"], request["site"]
            _send(control, {"id": request["id"], "pid": pid})
        _reap(control, children, sessions)
    _stop(control, children, sessions)
    _send(control, {"stopped": True})
    os._exit(0)


def _send(control: socket.socket, message: dict) -> None:
    try:
        control.send(json.dumps(message).encode())
    except OSError:
        pass  # the broker is gone: nobody counts any more


def _reap(control: socket.socket, children: dict[int, str], sessions: dict[int, str]) -> None:
    """Every ended process below this one, reported with its CPU seconds: a worker by its request,
    anything else (left behind by a worker) by the site of the session it ended in."""
    while True:
        try:
            ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if ended is None:
            return
        sid = _session_of(ended.si_pid)  # read while it is a zombie; reaped just below
        pid, status, usage = os.wait4(ended.si_pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        if pid in children:
            _send(control, {"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status), "cpu_s": cpu})
        else:
            _send(control, {"left_behind": sessions.get(sid), "cpu_s": cpu})


def _session_of(pid: int) -> int:
    fields = stat_fields(PROC / str(pid) / "stat")
    return int(fields[3]) if fields else -1


def _below() -> list[int]:
    """This process's children (workers and what they left behind)."""
    me = str(os.getpid())
    return [int(e.name) for e in PROC.iterdir() if e.name.isdigit() and stat_fields(e / "stat")[1:2] == [me]]


def _stop(control: socket.socket, children: dict[int, str], sessions: dict[int, str]) -> None:
    """Kill the workers' sessions, then whatever else is below this process, until nothing is left
    (a killed process's children come here in turn); every one reaped and counted."""
    for pid in sessions:
        kill_session(pid)  # each worker leads its own session, which outlives it
    deadline = time.monotonic() + STOP_S
    while True:
        _reap(control, children, sessions)
        below = _below()
        if not below or time.monotonic() > deadline:
            return
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def _child(control: socket.socket, request: dict, fds: list[int], isolate: bool, where) -> None:
    """In the forked worker (`where`: the data folder and the budget's sites): never returns."""
    code = 1
    try:
        control.close()  # first: no candidate code may ever reach the fork server
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in {null, *fds} - {0, 1, 2}:
            os.close(fd)
        os.chdir("/")
        writable = request.get("writable")
        if isolate:
            data, sites = where
            if request["site"] not in sites or writable is None:  # the broker checks both; never start a worker unrestricted
                print(f"site isolation: no site {request['site']!r:.100} in the budget, or no workspace",
                      file=sys.stderr)
                os._exit(2)
            from pathlib import Path

            from afr_box.sandbox.harness.channel_filter import deny_local_channels
            from afr_box.sandbox.harness.landlock import restrict
            from afr_box.sandbox.harness.sites import readable

            # At the fork, not once: the folders walked for the rules fill as workers start (their own folders).
            allowed = readable(data, sites, request["site"], [Path(p) for p in request.get("others", [])])
            tcp = request.get("tcp") or {}
            restrict(allowed, [Path(p) for p in writable] + [Path(os.devnull)], isolate=True,
                     bind=tcp.get("bind", []), connect=tcp.get("connect", []))
            deny_local_channels()
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # as an exec'd worker would be
        env = request["env"]
        os.environ.clear()
        os.environ.update(env)
        if writable:  # its own temporary folder (torch, NVFlare and the candidate write there)
            os.environ.update(TMPDIR=writable[-1], HOME=writable[-1])
        # What the interpreter would have done with the worker's PYTHONPATH at start.
        sys.path[:0] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        # A fresh process draws fresh seeds; a fork would share the server's.
        random.seed()
        import numpy

        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
        from afr_box.sandbox.harness.site_worker import main

        main(request["site"], request["args"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2] == "1")
