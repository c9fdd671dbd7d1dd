"""The candidate's aggregator, in a process of its own (started by aggregator_proxy.py, in the server).

    python -I -m afr_box.sandbox.harness.aggregator_worker <surface view> <work folder> <isolate: 1|0> <denied: JSON list>
    (stdin: requests, stdout: replies, both fl_wire messages; the aggregator's spec is the first request)

NVFlare's server process runs the FedAvg controller, the round count, the trusted round-metrics
collector and the final model's save; none of them can be trusted while candidate code runs in the
same process. So the candidate's aggregator runs here instead, and the server (aggregator_proxy.py)
only passes it each round's client updates and takes back the step. With `isolate` (every
sandboxed run) this process first gives up what the server may do: it inherits the server's read
restriction (no site), reads nothing of the sites' client folders (denied: what a client wrote
there stays its own), may write only beneath its own work folder (not the server's workspace:
not the model, not the collector's file), has no TCP (so no connection to the server's own
listener), may not signal or ptrace the server (Landlock scopes and domains), and only then
imports candidate code.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from afr_box.sandbox.harness import fl_wire
from afr_box.sandbox.harness.server_config import build

MAX_ERROR = 2000


def serve(view: str, requests, replies) -> int:
    first = fl_wire.receive(requests)
    if first is None:
        return 0
    try:
        sys.path[:0] = [p for p in view.split(os.pathsep) if p]
        aggregator = build(first["spec"])
        aggregator.fl_ctx = None  # no server context here: it stayed in the server
        fl_wire.send(replies, {"ok": True})
    except BaseException as exc:
        return _fail(replies, "could not build the aggregator", exc)
    while True:
        request = fl_wire.receive(requests)
        if request is None:
            return 0
        op = request.get("op")
        try:
            if op == "accept":
                aggregator.accept_model(fl_wire.to_model(request["model"]))
                fl_wire.send(replies, {"ok": True})
            elif op == "aggregate":
                fl_wire.send(replies, {"ok": True, "model": fl_wire.model_fields(aggregator.aggregate_model())})
            elif op == "reset":
                aggregator.reset_stats()
                fl_wire.send(replies, {"ok": True})
            else:
                raise ValueError(f"unknown request {str(op)[:40]!r}")
        except BaseException as exc:  # the candidate's error is the run's error; the server goes on to fail it
            return _fail(replies, f"{op} failed", exc)


def _fail(replies, what: str, exc: BaseException) -> int:
    traceback.print_exc()
    try:
        fl_wire.send(replies, {"ok": False, "error": f"{what}: {type(exc).__name__}: {exc}"[:MAX_ERROR]})
    except Exception:
        pass
    return 1


def main(view: str, work: str, isolate: bool, denied: list[str]) -> int:
    if isolate:
        from afr_box.sandbox.harness.channel_filter import deny_local_channels
        from afr_box.sandbox.harness.landlock import restrict
        from afr_box.sandbox.harness.sites import everything_but

        # Reads: the server's rule (no site's data) holds, and the clients' folders go too.
        restrict(everything_but([Path(p).resolve() for p in denied]), [Path(work), Path(os.devnull)], isolate=True)
        deny_local_channels()  # no Unix socket (a client's, the site broker's), UDP or System V IPC
    os.environ.update(TMPDIR=work, HOME=work)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # what the candidate prints goes to the log, not into the replies
    return serve(view, requests, replies)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3] == "1", json.loads(sys.argv[4])))
