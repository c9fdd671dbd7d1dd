"""The container's first process (PID 1) for candidate phases (train, infer).

    python -m afr_box.sandbox.harness.init afr_box.sandbox.harness.runner

It starts the phase module as its only child, waits for it, then looks for processes the
candidate left behind (daemons, double-forked children): any found are killed and turn the
phase into a violation (ExitCode.STRAY_PROCESSES), even if the phase itself succeeded, because a process that
outlives its phase could rewrite outputs after they were produced. As PID 1 it ignores
signals sent from inside the container, and it is non-dumpable, so candidate code can neither
kill nor ptrace it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from afr_box.sandbox.harness.exit_codes import ExitCode
from afr_box.sandbox.harness.paths import INIT_VIOLATION, OUT
from afr_box.sandbox.harness.processes import describe, make_undumpable, strays_after

MARKER = "AFR_SANDBOX_INIT"  # set for the phase module: it runs under this init, in a container


def in_sandbox() -> bool:
    """True in a phase module started by this init (so its pid namespace is the container's)."""
    return os.environ.get(MARKER) == "1" and os.getppid() == 1


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m afr_box.sandbox.harness.init <phase module>", file=sys.stderr)
        return ExitCode.USAGE
    make_undumpable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # PID 1 keeps no handler a candidate could trigger
    child = subprocess.Popen([sys.executable, "-m", argv[0]], env={**os.environ, MARKER: "1"})
    code = child.wait()
    found = strays_after({os.getpid()})
    if found:
        message = f"background processes left running after the phase: {describe(found)}"
        print(f"VIOLATION: {message}", file=sys.stderr)
        out = Path(os.environ.get("AFR_OUT", OUT))
        try:
            (out / INIT_VIOLATION).write_text(json.dumps({"error": message, "phase_exit_code": code}))
        except OSError:
            pass
        return ExitCode.STRAY_PROCESSES
    return code if code >= 0 else 128 - code  # killed by a signal: shell convention


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
