"""The broker's fork server (sandbox/harness/preload.py) on this host's real kernel: a forked
worker holds no channel back to the fork server, reads only its own site, runs with the
environment it was sent (not the fork server's), and its exit and CPU seconds come back, with
those of every process it left behind (in its session or out of it), killed at stop; a site
outside the budget is never started unrestricted. The real worker path runs in every training
run (test_sites.py's broker test, the e2e tests, the attack suite in test_security_e2e)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from afr_box.sandbox.harness.landlock import abi_version
from afr_box.sandbox.harness.processes import PROC, stat_fields
from site_folders import site_folders

SITES = ["site-1", "site-2"]
pytestmark = pytest.mark.skipif(abi_version() == 0, reason="this kernel has no Landlock")

# The fork server as the broker starts it, with site_worker's main replaced by a probe that
# reports what a worker would find (PRELOAD emptied: the imports are not what is tested).
SERVER = textwrap.dedent("""
    import json, os, socket, stat, sys, time
    from pathlib import Path
    import afr_box.sandbox.harness.site_worker as site_worker
    from afr_box.sandbox.harness import preload

    def burn_then_wait(leave_session):
        if os.fork():
            return
        if leave_session:
            os.setsid()
        for fd in (1, 2):
            os.close(fd)  # the test reads the worker's output to its end
        start = time.process_time()
        while time.process_time() - start < 0.5:
            pass
        while True:
            time.sleep(1)  # until the stop kills it

    def probe(site, args):
        if os.environ.get("AFR_PROBE_LEAVE"):  # leave two CPU burners behind, one out of the session
            burn_then_wait(False)
            burn_then_wait(True)
            print(json.dumps({"left": True}), flush=True)
            sys.exit(0)
        fds = {}
        for fd in os.listdir("/proc/self/fd"):
            try:
                fds[fd] = stat.S_ISSOCK(os.fstat(int(fd)).st_mode)
            except OSError:
                pass  # the listing's own descriptor
        reads = {}
        for other in ("site-1", "site-2"):
            try:
                reads[other] = (Path(os.environ["AFR_PROBE_DATA"]) / other / "x.npy").read_text()
            except PermissionError:
                reads[other] = "refused"
        writes = {}
        for name, path in (("own", Path(os.environ["AFR_PROBE_WS"]) / site / "x"),
                           ("private", Path(os.environ["TMPDIR"]) / "x"),
                           ("other site", Path(os.environ["AFR_PROBE_WS"]) / "site-1" / "x"),
                           ("server", Path(os.environ["AFR_PROBE_WS"]) / "afr_global_model.npz"),
                           ("shared", Path(os.environ["AFR_PROBE_WS"]).parent / "handoff")):
            try:
                path.write_text("x")
                writes[name] = "wrote"
            except PermissionError:
                writes[name] = "refused"
        print(json.dumps({"site": site, "args": args, "sockets": [fd for fd, sock in fds.items() if sock],
                          "writes": writes,
                          "fds": sorted(fds), "reads": reads, "env": dict(os.environ), "ppid": os.getppid(),
                          "sid_is_pid": os.getsid(0) == os.getpid()}), flush=True)
        sys.exit(7)

    site_worker.main = probe
    preload.PRELOAD = ()
    preload.serve(socket.socket(fileno=int(sys.argv[1])), True)
""")


@pytest.fixture
def fork_server(tmp_path):
    data = site_folders(tmp_path / "data", SITES)
    run_file = tmp_path / "run.json"
    run_file.write_text(json.dumps({"task": "heart", "phase": "train", "budget": {}, "sites": SITES,
                                    "eval_sites": SITES, "metric": {}}))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = {"PATH": os.environ["PATH"], "AFR_RUN_FILE": str(run_file), "AFR_DATA_DIR": str(data),
           "FORK_SERVER_ONLY": "1"}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(theirs.fileno())], pass_fds=[theirs.fileno()],
                              env=env, cwd="/")
    theirs.close()
    yield ours, data, server
    ours.close()
    server.wait(timeout=30)


def _start(control: socket.socket, rid: str, site: str, env: dict, writable=None) -> tuple[dict, dict, str]:
    out_r, out_w = os.pipe()
    message = json.dumps({"id": rid, "site": site, "args": ["--flag"], "env": env, "writable": writable}).encode()
    socket.send_fds(control, [message], [out_w, out_w])
    os.close(out_w)
    started = json.loads(control.recv(1 << 20))
    ended = json.loads(control.recv(1 << 20))
    with os.fdopen(out_r) as f:
        output = f.read()
    return started, ended, output


def test_a_forked_worker_holds_no_channel_back_reads_its_site_only_and_gets_the_sent_environment(fork_server, tmp_path):
    control, data, server = fork_server
    ws, private = tmp_path / "ws", tmp_path / "private-2"
    for folder in (ws / "site-1", ws / "site-2", private):
        folder.mkdir(parents=True)
    sent = {"PATH": os.environ["PATH"], "AFR_PROBE_DATA": str(data), "AFR_PROBE_WS": str(ws), "FROM_THE_SIMULATOR": "yes"}
    started, ended, output = _start(control, "1", "site-2", sent, [str(ws / "site-2"), str(private)])
    report = json.loads(output.strip().splitlines()[-1])
    assert started["id"] == ended["id"] == "1" and started["pid"] > 0
    assert ended["exit"] == 7 and ended["cpu_s"] >= 0  # the worker's own exit, reaped by the fork server
    assert report["site"] == "site-2" and report["args"] == ["--flag"]
    assert report["sockets"] == [], "the forked worker still holds a socket (the fork server's channel?)"
    assert set(report["fds"]) <= {"0", "1", "2", "3"}
    assert report["reads"] == {"site-1": "refused", "site-2": "site-2"}
    # It writes its own workspace and private folder only: not another site's, not the server's
    # files, not a file in a shared folder for another site's client to pick up.
    assert report["writes"] == {"own": "wrote", "private": "wrote", "other site": "refused", "server": "refused",
                                "shared": "refused"}
    assert report["env"] == {**sent, "TMPDIR": str(private), "HOME": str(private)} and "FORK_SERVER_ONLY" not in report["env"]
    assert report["ppid"] == server.pid and report["sid_is_pid"]


def test_a_site_outside_the_budget_is_never_started_unrestricted(fork_server):
    control, data, _ = fork_server
    started, ended, output = _start(control, "2", "site-9", {"AFR_PROBE_DATA": str(data)}, ["/tmp"])
    assert ended["exit"] == 2 and "no site 'site-9' in the budget" in output
    assert '"reads"' not in output  # the probe (the worker) never ran
    started, ended, output = _start(control, "4", "site-2", {"AFR_PROBE_DATA": str(data)}, None)
    assert ended["exit"] == 2 and "or no workspace" in output  # no folders to write in: not started either


def test_the_fork_server_stops_when_the_broker_closes_its_channel(fork_server):
    control, _, server = fork_server
    control.shutdown(socket.SHUT_RDWR)
    assert server.wait(timeout=10) == 0


def test_what_a_worker_leaves_behind_is_counted_to_its_site_and_killed_at_stop(fork_server):
    control, data, server = fork_server
    started, ended, output = _start(control, "3", "site-2", {"AFR_PROBE_LEAVE": "1", "PATH": os.environ["PATH"]},
                                    [str(data / "site-2")])
    assert ended["exit"] == 0 and '"left": true' in output
    burners = [p for p in os.listdir("/proc") if p.isdigit() and _parent(p) == server.pid]
    assert len(burners) == 2, "the worker's two burners were not handed to the fork server"
    time.sleep(1.5)  # they burn 0.5 s of CPU each, then wait to be killed
    control.send(json.dumps({"stop": True}).encode())
    replies = []
    while not replies or not replies[-1].get("stopped"):
        replies.append(json.loads(control.recv(1 << 20)))
    left = {}
    for reply in replies:
        if "left_behind" in reply:
            left[reply["left_behind"]] = left.get(reply["left_behind"], 0.0) + reply["cpu_s"]
    # the one in the worker's session is the site's; the one that left it (setsid) is nobody's
    assert set(left) == {"site-2", None} and min(left.values()) >= 0.45, left
    assert server.wait(timeout=10) == 0
    assert not [p for p in burners if os.path.exists(f"/proc/{p}")], "a burner outlived the stop"


def _parent(pid: str) -> int:
    fields = stat_fields(PROC / pid / "stat")
    return int(fields[1]) if fields else -1
