"""Named orchestrator errors (light module: the CLI imports it at start-up)."""


class CampaignError(RuntimeError):
    """A campaign cannot start as asked (name taken, nothing to resume, profile or policy changed
    since it started); the message says what to do instead."""
