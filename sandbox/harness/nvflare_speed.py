"""NVFlare 2.9's fixed waits, shortened the same way for every candidate (the harness's speed
settings; `afr-box bench` prints what each costs).

A heart run spends far more time in these waits than in training (issue 20's breakdown): each
is a poll for something that another thread or process will hand over, or a grace period after
the work is done, never a computation, so the final model is bit-identical with or without them
(aggregation is in a fixed order: `afr-box bench` checks the weights). Applied in trusted code
before NVFlare runs: in the simulator's processes at import of simulate.py, in each client worker
by site_worker.py. `AFR_NVFLARE_DEFAULT_POLLING=1` (set only by `afr-box bench`, for its
comparison) leaves NVFlare as shipped.

| where (nvflare 2.9.0)                                   | shipped      | here          |
|---------------------------------------------------------|--------------|---------------|
| in-process Client API hand-over, both directions         | 0.5 s poll   | POLL_S        |
| a worker's retry when the server has no task yet         | 0.5 s        | RETRY_S       |
| simulator_runner: server-started poll, first client wait | 1.0 s        | RETRY_S       |
| a worker's pause between tasks (server's task interval)  | 0.1 s        | RETRY_S       |
| a worker's exit: `time.sleep(2)` after its main          | 2 s          | RETRY_S       |
| MainProcessMonitor shutdown grace (server and workers)   | 3 s          | GRACE_S       |
| a TCP listener's shutdown check (cell stop, every process) | 0.5 s      | LISTEN_POLL_S |
| the server's engine-stopped check (and parent heartbeat) | 3 s          | ENGINE_CHECK_S |
"""
from __future__ import annotations

import os
import time as _time

POLL_S = 0.01
RETRY_S = 0.05
GRACE_S = 0.05
LISTEN_POLL_S = 0.05
ENGINE_CHECK_S = 0.2  # each check also sends the parent a heartbeat message: not every few ms
DEFAULT_POLLING_ENV = "AFR_NVFLARE_DEFAULT_POLLING"  # "1": NVFlare's own waits (the bench's comparison)


def wanted() -> bool:
    return os.environ.get(DEFAULT_POLLING_ENV) != "1"


class CappedTime:
    """A module's `time`, whose sleeps last at most `cap` seconds (every other name is `time`'s)."""

    def __init__(self, cap: float):
        self.cap = cap

    def __getattr__(self, name):
        return getattr(_time, name)

    def sleep(self, seconds: float) -> None:
        _time.sleep(min(seconds, self.cap))


def _quick_exit() -> None:
    """Shutdown waits of every NVFlare process: MainProcessMonitor's grace, the TCP listener's poll."""
    from nvflare.fuel.f3.drivers.tcp_driver import TcpDriver, TcpStreamServer
    from nvflare.fuel.f3.mpm import MainProcessMonitor

    def listen(self, connector):  # TcpDriver.listen, with socketserver's shutdown poll shortened
        self.connector = connector
        self.server = TcpStreamServer(self, connector)
        self.server.serve_forever(poll_interval=LISTEN_POLL_S)

    TcpDriver.listen = listen

    start = MainProcessMonitor._start_shutdown.__func__

    def start_shutdown(cls, shutdown_grace_time, cleanup_grace_time):
        # The cleanup itself is still waited for (up to cleanup_grace_time): only the idle pause before it goes.
        start(cls, min(shutdown_grace_time, GRACE_S), cleanup_grace_time)

    MainProcessMonitor._start_shutdown = classmethod(start_shutdown)


def speed_up_simulator() -> None:
    """In the simulator's parent and server processes."""
    from nvflare.private.fed.app.simulator import simulator_runner

    from nvflare.private.fed.server.fed_server import FederatedServer

    simulator_runner.time = CappedTime(RETRY_S)
    _quick_exit()
    init = FederatedServer.__init__

    def server_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        # The server thread polls this long for the engine to stop: the last wait of every run.
        self.check_engine_frequency = min(self.check_engine_frequency, ENGINE_CHECK_S)

    FederatedServer.__init__ = server_init


def speed_up_worker():
    """In a client worker, before it runs; returns the worker module, whose `run()` is its main
    without the 2 s sleep NVFlare's `__main__` block ends with."""
    from nvflare.app_common.executors.client_api import in_process_backend
    from nvflare.private.fed.app.simulator import simulator_worker

    in_process_backend._RESULT_POLL_INTERVAL = POLL_S  # read at each wait and when the trainer's API is made
    simulator_worker.time = CappedTime(RETRY_S)
    _quick_exit()
    return simulator_worker
