"""Stands in for one simulator worker in the server's process tree (sites.py).

    python -I -m afr_box.sandbox.harness.site_relay      (AFR_WORKER_ARGV: the worker command)

Asks the site broker to start the worker, then lives as long as it does and exits as it did, so
the simulator watches it like its own child. Stopping the relay stops the worker.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys

from afr_box.sandbox.harness.sites import BROKER_ENV, WORKER_ARGV_ENV, read_line, send_message


def main() -> int:
    argv = json.loads(os.environ.pop(WORKER_ARGV_ENV))
    broker = os.environ.pop(BROKER_ENV)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(broker)
    socket.send_fds(sock, [b"F"], [1, 2])  # the worker writes where the simulator reads this relay
    send_message(sock, {"argv": argv, "env": dict(os.environ)})
    # Stopped by the simulator: leaving closes the socket, and the broker kills the worker.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(128 + signal.SIGTERM))
    reply = read_line(sock)
    if not reply.endswith(b"\n"):
        print("site relay: the site broker went away", file=sys.stderr, flush=True)
        return 1
    answer = json.loads(reply)
    if "refused" in answer:
        print(f"SITE ISOLATION: the broker refused a worker: {answer['refused']}", file=sys.stderr, flush=True)
        return 2
    code = int(answer["exit"])
    if code < 0:  # killed by a signal (an OOM kill is SIGKILL): die the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main())
