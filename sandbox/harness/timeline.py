"""Where a training run's time goes, from the runner's side (`afr-box bench` prints it).

The runner marks its own steps and reads the simulator's log as it streams by (it is the
simulator's output either way): no candidate process reports anything here, and nothing in it
is used for scoring. Marks are seconds since the runner started; the breakdown names spans.
"""
from __future__ import annotations

import time
from typing import Optional

from afr_box.sandbox.harness.supervise import ROUND_STARTED  # the stall watch reads the same lines

FINISHED = "Finished FedAvg."


class Timeline:
    def __init__(self):
        self.start = time.monotonic()
        self.marks: dict[str, float] = {}
        self.round_starts: dict[int, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.start, 3)

    def see(self, line: str) -> None:
        """A simulator output line (a restarted run starts its marks again)."""
        m = ROUND_STARTED.search(line)
        if m:
            if int(m.group(1)) == 0:
                self.round_starts.clear()
            self.round_starts[int(m.group(1))] = round(time.monotonic() - self.start, 3)
        elif FINISHED in line:
            self.mark("rounds_finished")

    def breakdown(self) -> dict[str, Optional[float]]:
        """Spans in seconds: job.py's export, the simulator's start (to round 0), round 0 (with
        the client workers' start), the later rounds (each, on average), the simulator's shutdown,
        and the rest (the broker's stop, the checks after the run, the final model's read and save)."""
        m, r = self.marks, self.round_starts
        span = lambda a, b: round(b - a, 3) if a is not None and b is not None else None
        last = max(r) if r else None
        later = span(r.get(1), m.get("rounds_finished"))
        return {
            "job_export_s": span(0.0, m.get("exported")),
            "simulator_start_s": span(m.get("checked"), r.get(0)),
            "round_0_s": span(r.get(0), r.get(1, m.get("rounds_finished"))),
            "later_rounds_s": later,
            "per_later_round_s": round(later / last, 3) if later is not None and last else None,
            "shutdown_s": span(m.get("rounds_finished"), m.get("simulator_exited")),
            "final_model_s": span(m.get("simulator_exited"), m.get("model_saved")),
        }
