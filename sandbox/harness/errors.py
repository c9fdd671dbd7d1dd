"""Errors the harness raises inside a container (never shown to a user as a traceback: the
runner turns them into an exit code and an `error` in its stats file)."""


class BudgetViolation(Exception):
    """The candidate's job does not match the fixed budget (rounds, clients, workflow, aggregator)."""


class OutputViolation(Exception):
    """What the run left behind for /out breaks the output rules (round metrics that the trusted
    collector cannot have written: a non-finite number, an oversized file, unknown rounds or sites)."""


# How the server's aggregator proxy names the candidate aggregator's error in the log, for the runner.
AGGREGATOR_FAILED_PREFIX = "AFR-AGGREGATOR-FAILED: "
