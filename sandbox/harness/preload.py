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
anything else, then restricts itself to its own site (Landlock), takes the environment the
simulator gave the worker, and runs site_worker.py.
Each child's exit status and CPU seconds go back to the broker (wait4 here, outside every
candidate process).
"""
from __future__ import annotations

import ctypes
import importlib
import json
import os
import random
import select
import socket
import sys
import traceback

from afr_box.sandbox.harness.processes import PR_SET_DUMPABLE, make_undumpable
from afr_box.sandbox.harness.sites import kill_session

PRELOAD = (
    "numpy", "torch", "torch._dynamo", "torch.optim",
    "nvflare.private.fed.app.simulator.simulator_worker",
    "nvflare.client", "nvflare.app_common.executors.client_api.in_process_backend",
    "afr_box.sandbox.harness.site_worker", "afr_box.sandbox.harness.landlock", "afr_box.tasks.shared.site_env",
)
MAX_MESSAGE = 1 << 20
REAP_S = 0.05


def serve(control: socket.socket, isolate: bool) -> None:
    """Fork a worker for each request until the broker closes the channel; then stop them all."""
    from afr_box.sandbox.harness.run_file import RunFile
    from afr_box.sandbox.harness.sites import readable
    from afr_box.tasks.shared.site_env import data_dir, run_file

    make_undumpable()
    sites, data = RunFile.read(run_file()).sites, data_dir()
    rules = {site: readable(data, sites, site) for site in sites} if isolate else {}
    for name in PRELOAD:
        importlib.import_module(name)
    sys.stdout.flush()
    sys.stderr.flush()
    children: dict[int, str] = {}
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
            pid = os.fork()
            if pid == 0:
                _child(control, request, fds, isolate, rules.get(request["site"]))
            for fd in fds:
                os.close(fd)
            children[pid] = request["id"]
            control.send(json.dumps({"id": request["id"], "pid": pid}).encode())
        while children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            control.send(json.dumps({"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status),
                                     "cpu_s": usage.ru_utime + usage.ru_stime}).encode())
    for pid in children:
        kill_session(pid)  # each child leads its own session
    os._exit(0)


def _child(control: socket.socket, request: dict, fds: list[int], isolate: bool, allowed) -> None:
    """In the forked worker: never returns."""
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
        if isolate:
            if allowed is None:  # the broker checks the site; never start a worker unrestricted
                print(f"site isolation: no site {request['site']!r:.100} in the budget", file=sys.stderr)
                os._exit(2)
            from afr_box.sandbox.harness.landlock import restrict_reads

            restrict_reads(allowed)
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # as an exec'd worker would be
        env = request["env"]
        os.environ.clear()
        os.environ.update(env)
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
