"""Exit codes of the containers' processes, shared by the harness and the host that reads them."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    SIMULATOR_FAILED = 2   # runner: the NVFlare run failed or wrote no final model
    JOB_FAILED = 3         # runner / export_job: the candidate's job.py failed to build its recipe
    BUDGET_VIOLATION = 4   # runner / export_job: the exported job breaks the budget
    SCORE_REFUSED = 5      # scorer: the outputs cannot be scored (score.json says why)
    STRAY_PROCESSES = 6    # init: processes were left running after the phase
    OUTPUT_VIOLATION = 7   # runner: what the run left for the outputs breaks their rules (round metrics)
    USAGE = 64             # init: called without its one argument

    @property
    def reason(self) -> str:
        return _REASONS[self]


_REASONS = {
    ExitCode.OK: "ok",
    ExitCode.SIMULATOR_FAILED: "NVFlare run failed",
    ExitCode.JOB_FAILED: "job.py failed to build its recipe",
    ExitCode.BUDGET_VIOLATION: "budget violation",
    ExitCode.SCORE_REFUSED: "score refused",
    ExitCode.STRAY_PROCESSES: "background processes left running",
    ExitCode.OUTPUT_VIOLATION: "outputs break the harness's rules",
    ExitCode.USAGE: "harness called wrongly",
}
def exit_reason(code) -> str:
    """What an exit code means, for a record's reason."""
    try:
        return ExitCode(code).reason
    except ValueError:
        return f"exit code {code}"


# Exits that are a broken rule, not a failure: the row is a violation.
VIOLATION_EXITS = frozenset({ExitCode.BUDGET_VIOLATION, ExitCode.STRAY_PROCESSES, ExitCode.OUTPUT_VIOLATION})
