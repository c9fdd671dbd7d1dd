"""The jail's entry point: start the egress forwarder, wait until it listens, then become the agent.

    python -m afrjail.entry -- COMMAND ARGS...

The forwarder runs as a child process; the agent replaces this process (exec), so its exit code is
the jail's. (Docker's init is PID 1 and reaps what the agent leaves behind.)
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from . import channel, forward


def _listening(timeout: float = 10.0) -> bool:
    """Whether the forwarder says it listens (a probe connection would reach the proxy's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(forward.READY):
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.exit("usage: python -m afrjail.entry -- COMMAND ARGS...")
    os.makedirs(os.environ.get("HOME", "/tmp/home"), exist_ok=True)  # HOME lives in the tmpfs
    egress = os.path.join(channel.SOCKET_DIR, channel.EGRESS_SOCKET)
    if os.path.exists(egress):
        subprocess.Popen([sys.executable, "-I", "-c",
                          "import sys; sys.path.insert(0, '/opt/afr-jail'); from afrjail.forward import main; main()",
                          egress], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _listening():
            print(f"afr-jail: the egress forwarder did not start on 127.0.0.1:{forward.PORT}", file=sys.stderr)
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.exit(f"afr-jail: cannot run {argv[0]!r}: {exc.strerror}")


if __name__ == "__main__":
    main()
