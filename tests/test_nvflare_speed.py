"""The harness's NVFlare speed settings (sandbox/harness/nvflare_speed.py) still find what they
change in the pinned NVFlare (an upgrade that renames one fails here, not silently slower), and
cap waits only. Their effect and the bit-identical final model are `afr-box bench`'s figures
(benchmarks/README.md); each runs in a fresh interpreter here, so this process stays unpatched."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from afr_box.sandbox.harness.nvflare_speed import CappedTime


def test_a_capped_sleep_waits_at_most_the_cap_and_everything_else_is_time():
    capped = CappedTime(0.01)
    start = time.monotonic()
    capped.sleep(5)
    assert time.monotonic() - start < 1
    assert capped.monotonic is time.monotonic and capped.time is time.time


def _run(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_worker_settings_reach_nvflares_worker_and_client_api():
    _run("""
        from afr_box.sandbox.harness import nvflare_speed as s
        from nvflare.app_common.executors.client_api import in_process_backend
        from nvflare.fuel.f3.drivers.tcp_driver import TcpDriver
        from nvflare.fuel.f3.mpm import MainProcessMonitor
        worker = s.speed_up_worker()
        assert in_process_backend._RESULT_POLL_INTERVAL == s.POLL_S
        assert isinstance(worker.time, s.CappedTime) and worker.time.cap == s.RETRY_S
        assert TcpDriver.listen.__module__ == s.__name__
        assert MainProcessMonitor._start_shutdown.__func__.__module__ == s.__name__
        assert callable(worker.parse_arguments) and callable(worker.main)
    """)


def test_the_simulator_settings_reach_its_runner_and_server():
    _run("""
        from afr_box.sandbox.harness import nvflare_speed as s
        from nvflare.private.fed.app.simulator import simulator_runner
        from nvflare.private.fed.server.fed_server import FederatedServer
        s.speed_up_simulator()
        assert isinstance(simulator_runner.time, s.CappedTime)
        assert FederatedServer.__init__.__module__ == s.__name__
    """)


def test_bench_can_ask_for_nvflare_as_shipped(monkeypatch):
    from afr_box.sandbox.harness import nvflare_speed

    monkeypatch.setenv(nvflare_speed.DEFAULT_POLLING_ENV, "1")
    assert not nvflare_speed.wanted()
    monkeypatch.setenv(nvflare_speed.DEFAULT_POLLING_ENV, "0")
    assert nvflare_speed.wanted()
