"""Running the NVFlare simulator under watch: a run that stops making progress ends in minutes,
not at the container's wall-clock limit, and is started once more.

Under CPU contention NVFlare 2.9's simulator can lose a task hand-over (a reply that arrives
after its waiter gave up): the server then waits for a result that never comes, and the run
hangs until the phase timeout (measured here: heart stuck in round 3 of 15 for the rest of its
600 s). A round's duration is steady within a run (the same clients, steps and model), so a round
that takes far longer than the slowest finished one is a stall: the whole simulator tree is
killed and the run starts again from scratch. Runs are seeded per (seed, site, round) and
aggregated in a fixed order, so the restart gives the same final model; it is recorded.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

ROUND_STARTED = re.compile(r"Round (\d+) started\.")
STALL_MIN_S = 120.0   # never call a round stalled before this
STALL_FACTOR = 10.0   # ... nor before it took this many times the slowest finished round
MAX_STARTS = 2


@dataclass
class Watch:
    """What the output told about progress: when each round started."""

    started: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, line: str, now: float) -> None:
        m = ROUND_STARTED.search(line)
        if m:
            with self.lock:
                self.started.setdefault(int(m.group(1)), now)

    def stalled(self, now: float, min_s: float = STALL_MIN_S, factor: float = STALL_FACTOR) -> Optional[str]:
        """Why the run counts as stalled now, or None. Needs one finished round to judge by."""
        with self.lock:
            if len(self.started) < 2:
                return None
            rounds = sorted(self.started)
            finished = [self.started[b] - self.started[a] for a, b in zip(rounds, rounds[1:])]
            current, since = rounds[-1], now - self.started[rounds[-1]]
        limit = max(min_s, factor * max(finished))
        if since > limit:
            return f"round {current} made no progress for {since:.0f} s (slowest finished round {max(finished):.1f} s)"
        return None


def run_watched(cmd: list[str], min_s: float = STALL_MIN_S, factor: float = STALL_FACTOR,
                poll_s: float = 1.0) -> tuple[int, Optional[str]]:
    """Run `cmd` in its own session, echoing its output; (exit code, stall reason or None). A stalled
    run's whole process group is killed."""
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", bufsize=1)
    watch = Watch()

    def pump() -> None:
        for line in proc.stdout:
            sys.stdout.write(line)
            watch.saw(line, time.monotonic())

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while True:
        try:
            rc = proc.wait(timeout=poll_s)
            break
        except subprocess.TimeoutExpired:
            reason = watch.stalled(time.monotonic(), min_s, factor)
            if reason:
                _kill_group(proc)
                reader.join(timeout=5)
                return proc.returncode, reason
    reader.join(timeout=5)
    return rc, None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_with_restart(make_cmd, reset, min_s: float = STALL_MIN_S,
                     factor: float = STALL_FACTOR) -> tuple[int, list[str]]:
    """Run the command `make_cmd()` gives, again from `reset()` when it stalls (at most MAX_STARTS
    starts); (exit code of the last start, the stall reasons). A run that stalled every time exits
    with None, which the caller reports as a failed run."""
    stalls: list[str] = []
    for _ in range(MAX_STARTS):
        rc, stall = run_watched(make_cmd(), min_s, factor)
        if stall is None:
            return rc, stalls
        stalls.append(stall)
        print(f"NVFLARE STALLED: {stall}; killed, starting the run again from scratch", file=sys.stderr, flush=True)
        reset()
    return -1, stalls
