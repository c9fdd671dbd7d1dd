"""The aggregator the FedAvg controller sees, in NVFlare's server process: trusted code that hands
each client update to the candidate's aggregator in its own restricted process
(aggregator_worker.py) and takes back the step.

The runner (check_job) puts this in place of a candidate aggregator (`shared.aggregators.*`), so
that no candidate code runs in the server: what the server records (the rounds it ran, who took
part in each, the final model and its round) comes from NVFlare and the harness alone.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from typing import Optional

from nvflare.apis.event_type import EventType
from nvflare.apis.fl_context import FLContext
from nvflare.app_common.abstract.fl_model import FLModel
from nvflare.app_common.aggregators.model_aggregator import ModelAggregator

from afr_box.sandbox.harness import fl_wire
from afr_box.sandbox.harness.errors import AGGREGATOR_FAILED_PREFIX

WORKER = [sys.executable, "-I", "-m", "afr_box.sandbox.harness.aggregator_worker"]

STOP_WAIT_S = 5.0


class AggregatorFailed(RuntimeError):
    """The candidate's aggregator raised, broke the protocol or died."""


class SandboxedAggregator(ModelAggregator):
    def __init__(self, spec: str, view: str, work: str, isolate: bool = True, denied: Optional[list] = None):
        super().__init__()
        # Same-name attributes: NVFlare's config builder and exporter read constructor arguments.
        self.spec, self.view, self.work, self.isolate = spec, view, work, isolate
        self.denied = [str(p) for p in denied or []]  # the sites' client folders: the worker reads none
        self._process: Optional[subprocess.Popen] = None
        self._lock = threading.Lock()  # NVFlare may call back from more than one thread

    @property
    def target(self) -> str:
        return str(json.loads(self.spec).get("path", "?"))

    def handle_event(self, event_type: str, fl_ctx: FLContext):
        super().handle_event(event_type, fl_ctx)
        if event_type == EventType.END_RUN:
            self.stop()

    def _start(self) -> subprocess.Popen:
        os.makedirs(self.work, exist_ok=True)
        work = tempfile.mkdtemp(prefix="aggregator-", dir=self.work)
        env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS") if k in os.environ}
        process = subprocess.Popen([*WORKER, self.view, work, "1" if self.isolate else "0", json.dumps(self.denied)],
                                   stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, env=env, cwd=work)
        self._process = process
        self._call({"spec": json.loads(self.spec)})
        return process

    def _call(self, request: dict) -> dict:
        process = self._process
        try:
            fl_wire.send(process.stdin, request)
            reply = fl_wire.receive(process.stdout)
        except (OSError, fl_wire.WireError) as exc:
            raise AggregatorFailed(f"aggregator {self.target}: {exc}") from None
        if reply is None:
            raise AggregatorFailed(f"aggregator {self.target} exited (code {process.wait()})")
        if reply.get("ok") is not True:
            raise AggregatorFailed(f"aggregator {self.target}: {str(reply.get('error'))[:2000]}")
        return reply

    def _request(self, request: dict) -> dict:
        with self._lock:
            try:
                if self._process is None:
                    self._start()
                return self._call(request)
            except AggregatorFailed as exc:
                print(AGGREGATOR_FAILED_PREFIX + " ".join(str(exc).split())[:2000], file=sys.stderr, flush=True)
                raise

    def accept_model(self, model: FLModel):
        self._request({"op": "accept", "model": fl_wire.model_fields(model)})

    def aggregate_model(self) -> FLModel:
        reply = self._request({"op": "aggregate"})
        try:
            return fl_wire.to_model(reply.get("model"))
        except fl_wire.WireError as exc:
            raise AggregatorFailed(f"aggregator {self.target} returned {exc}") from None

    def reset_stats(self):
        self._request({"op": "reset"})

    def stop(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=STOP_WAIT_S)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
