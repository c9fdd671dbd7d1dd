"""Errors the harness raises inside a container (never shown to a user as a traceback: the
runner turns them into an exit code and an `error` in its stats file)."""


class BudgetViolation(Exception):
    """The candidate's job does not match the fixed budget (rounds, clients, workflow, aggregator)."""
