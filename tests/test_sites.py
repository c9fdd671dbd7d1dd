"""Site isolation's parts on this host's real kernel: Landlock refuses what a process gave up (also
through /proc/<pid>/root), the broker starts only budget sites' workers and relays their exit, and
a refused read in a log line names the site path. The whole path runs in the sandbox in
test_security_e2e.py (attack read-other-sites, in the whole suite on heart)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from afr_box.sandbox.harness.landlock import abi_version
from afr_box.sandbox.harness.sites import (BROKER_ENV, WORKER_ARGV_ENV, WORKER_MODULE, SiteBroker, SiteRefused,
                                           denied_site_path, readable, worker_ports, worker_site)
from site_folders import site_folders

SITES = ["site-1", "site-2"]
pytestmark = pytest.mark.skipif(abi_version() == 0, reason="this kernel has no Landlock")  # CI's has (ABI 7)


@pytest.fixture
def data(tmp_path):
    return site_folders(tmp_path / "data", SITES)


def _as_restricted(data: Path, site, body: str, others: tuple = ()) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from afr_box.sandbox.harness.landlock import restrict_reads
        from afr_box.sandbox.harness.sites import readable
        data = Path({str(data)!r})
        restrict_reads(readable(data, {SITES!r}, {site!r}, [Path(p) for p in {[str(o) for o in others]!r}]))
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_site_reads_its_own_folder_and_the_assets_and_no_other_site(data):
    done = _as_restricted(data, "site-1", """
        print(open(data / "site-1" / "x.npy").read(), open(data / "assets" / "x.npy").read())
        for path in (data / "site-2" / "x.npy", f"/proc/{os.getpid()}/root{data}/site-2/x.npy"):
            try:
                open(path).read()
                print("READ", path)
            except PermissionError:
                print("refused")
        print(sorted(os.listdir(data)) == ["assets", "site-1", "site-2"], os.listdir(data / "site-2") == ["x.npy"])
    """)
    assert done.returncode == 0, done.stderr
    # refused to read, free to list (names and sizes are visible to stat() anyway)
    assert done.stdout.split() == ["site-1", "assets", "refused", "refused", "True", "True"]


def test_the_server_reads_no_site_and_its_children_inherit_that(data):
    done = _as_restricted(data, None, """
        import subprocess, sys
        print(open(data / "assets" / "x.npy").read())
        child = subprocess.run([sys.executable, "-c", f"open({str(data / 'site-1' / 'x.npy')!r}).read()"],
                               capture_output=True, text=True)
        print("child refused" if "PermissionError" in child.stderr else "CHILD READ")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["assets", "child refused"]


def test_a_client_reads_no_other_sites_client_folders_even_one_made_after_it_started(data, tmp_path):
    ws, private = tmp_path / "ws", tmp_path / "afr-private"
    for folder in (ws / "site-1", ws / "site-2", private / "site-1", private / "site-2"):
        folder.mkdir(parents=True)
        (folder / "rows.npy").write_text("rows")
    (ws / "global.npz").write_text("model")
    done = _as_restricted(data, "site-1", f"""
        ws, private = Path({str(ws)!r}), Path({str(private)!r})
        print(open(ws / "site-1" / "rows.npy").read(), open(private / "site-1" / "rows.npy").read(),
              open(ws / "global.npz").read())
        os.makedirs(ws / "site-3")
        open(ws / "site-3" / "rows.npy", "w").write("rows")  # this process may write; it may not read back
        for path in (ws / "site-2" / "rows.npy", private / "site-2" / "rows.npy", ws / "site-3" / "rows.npy",
                     f"/proc/{{os.getpid()}}/root{{private}}/site-2/rows.npy"):
            try:
                open(path).read()
                print("READ", path)
            except PermissionError:
                print("refused")
    """, others=(ws / "site-2", private / "site-2", ws / "site-3"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:5] == ["rows rows model", "refused", "refused", "refused", "refused"]


def test_a_worker_may_use_tcp_for_its_listener_and_the_servers_cell_only():
    argv = ["-o", "/ws/site-1", "--port", "40001", "--root_url", "tcp://localhost:40002", "--client", "site-1"]
    assert worker_ports(argv) == {"bind": [40001], "connect": [40002]}
    for broken in (argv[:2] + argv[4:], argv[:4], [*argv[:5], "tcp://localhost", *argv[6:]], [*argv[:3], "0", *argv[4:]]):
        with pytest.raises(SiteRefused):
            worker_ports(broken)


def test_readable_allows_the_path_down_to_the_data_entry_by_entry(data):
    allowed = readable(data, SITES, "site-2")
    assert data / "site-2" in allowed and data / "assets" in allowed and data / "site-1" not in allowed
    assert data not in allowed and not any(p in data.parents for p in allowed)  # no ancestor grants it whole


def test_only_a_simulator_worker_for_a_budget_site_is_started():
    ok = [sys.executable, "-m", WORKER_MODULE, "-o", "/tmp/ws/site-2", "--client", "site-2"]
    assert worker_site(ok, SITES) == "site-2"
    for argv in ([sys.executable, "-c", "print(1)"], ok[:-2], [*ok[:-1], "site-9"], [*ok[:-1], "../site-1"]):
        with pytest.raises(SiteRefused):
            worker_site(argv, SITES)


def test_a_refused_read_names_the_site_path_and_nothing_else():
    data = Path("/data")
    line = "PermissionError: [Errno 13] Permission denied: '/data/site-2/x.npy'"
    assert denied_site_path(line, data, SITES) == "/data/site-2/x.npy"
    assert denied_site_path("Permission denied: '/data/assets/glove.npy'", data, SITES) is None
    assert denied_site_path("Permission denied: '/etc/shadow'", data, SITES) is None
    folders = [Path("/tmp/ws/site-1"), Path("/tmp/afr-private/site-1")]
    line = "PermissionError: [Errno 13] Permission denied: '/tmp/afr-private/site-1/worker-x/rows.npy'"
    assert denied_site_path(line, data, SITES, folders) == "/tmp/afr-private/site-1/worker-x/rows.npy"
    assert denied_site_path("Permission denied: '/tmp/ws/global.npz'", data, SITES, folders) is None


def _relay(tmp_path, broker: SiteBroker, argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, BROKER_ENV: str(broker.socket_path), WORKER_ARGV_ENV: json.dumps(argv)}
    return subprocess.run([sys.executable, "-I", "-m", "afr_box.sandbox.harness.site_relay"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_broker_starts_a_budget_sites_worker_and_the_relay_exits_as_it_did(tmp_path, data):
    run_file = tmp_path / "run.json"
    run_file.write_text(json.dumps({"task": "heart", "phase": "train", "budget": {}, "sites": SITES,
                                    "eval_sites": SITES, "metric": {}}))
    launcher_env = {"PATH": os.environ["PATH"], "AFR_RUN_FILE": str(run_file), "AFR_DATA_DIR": str(data)}
    ws = tmp_path / "ws"
    with SiteBroker(tmp_path / "broker.sock", SITES, launcher_env, workspace=ws) as broker:
        # A real worker command whose arguments the worker refuses: it exits 2 (argparse).
        worker = [sys.executable, "-m", WORKER_MODULE, "-o", str(ws / "site-1"), "--client", "site-1"]
        done = _relay(tmp_path, broker, [*worker, "--port", "40001", "--root_url", "tcp://localhost:40002",
                                         "--no-such-flag"])
        assert done.returncode == 2, done.stderr
        assert "usage: simulator_worker.py" in done.stderr  # the worker's own output reached the relay's stderr
        assert set(broker.cpu_s) == {"site-1"} and broker.cpu_s["site-1"] > 0
        refused = _relay(tmp_path, broker, [sys.executable, "-c", "print('hi')", "--client", "site-1"])
        assert refused.returncode == 2 and "SITE ISOLATION: the broker refused a worker" in refused.stderr
        assert broker.refused == ["not a simulator worker: " + " ".join([sys.executable, "-c", "print('hi')"])]
        # Without the two TCP ports it may use (its listener, the server's cell), it is not started.
        refused = _relay(tmp_path, broker, [*worker, "--port", "40001"])
        assert refused.returncode == 2 and "without a valid --port and --root_url" in refused.stderr
        # A worker for site-1 that would write in site-2's workspace (or the server's) is not started.
        for other in (ws / "site-2", ws):
            refused = _relay(tmp_path, broker, [sys.executable, "-m", WORKER_MODULE, "-o", str(other), "--client", "site-1"])
            assert refused.returncode == 2 and f"a worker for site-1 with workspace {str(other)!r}" in refused.stderr


def test_a_worker_runs_as_the_client_it_was_started_for_whatever_name_it_is_sent(monkeypatch):
    # NVFlare's simulator sends a new worker its client name in a dict its client threads share;
    # two workers starting at once could be sent one name (the CI failure where an honest heart
    # baseline's worker was refused another site's x.npy). site_worker pins the name to --client.
    from nvflare.private.fed.app.deployer.base_client_deployer import BaseClientDeployer

    from afr_box.sandbox.harness.site_worker import pin_client_name

    monkeypatch.setattr(BaseClientDeployer, "build", BaseClientDeployer.build)  # restored after the test
    sent = {"server_config": [], "client_config": {}, "secure_train": False, "client_name": "site-2",
            "server_host": "localhost", "client_components": {}, "client_handlers": []}
    unpinned = BaseClientDeployer()
    unpinned.build(sent)
    assert unpinned.client_name == "site-2"
    pin_client_name("site-1")
    pinned = BaseClientDeployer()
    pinned.build(sent)
    assert pinned.client_name == "site-1" and sent["client_name"] == "site-2"


def test_the_simulator_skips_a_user_site_that_job_py_could_have_written(tmp_path):
    # HOME is /tmp in the sandbox and job.py runs first: in a base whose venv sees the system's
    # site-packages (a base image with its own torch) Python enables the user site, and a
    # usercustomize there would run in the simulator before its Landlock restriction.
    from afr_box.sandbox.harness.runner import SIMULATE

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    home = tmp_path / "home"
    user_site = subprocess.run([python, "-c", "import site; print(site.getusersitepackages())"], env={"HOME": str(home)},
                               capture_output=True, text=True, check=True).stdout.strip()
    Path(user_site).mkdir(parents=True)
    marker = tmp_path / "ran-unrestricted"
    (Path(user_site) / "usercustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    flags = SIMULATE[1:SIMULATE.index("-m")]
    for args, runs in (([], True), (flags, False)):
        marker.unlink(missing_ok=True)
        subprocess.run([python, *args, "-c", "pass"], env={"HOME": str(home)}, check=True)
        assert marker.exists() == runs, (args, runs)
