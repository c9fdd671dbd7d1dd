"""Named orchestrator errors (light module: the CLI imports it at start-up)."""
from afr_box.tasks.shared.errors import AfrError


class CampaignError(AfrError):
    """A campaign cannot start or go on as asked (name taken, nothing to resume, the profile, policy,
    proposer or base image changed since it started, a workspace not found); the message says what
    to do instead."""


class RecordError(AfrError):
    """A campaign record (campaign.json, record.json, ...) is missing or malformed: the folder is
    incomplete, was altered, or is not an afr-box campaign. The message names the file and field."""


class ProposerError(AfrError):
    """A proposer cannot be set up as asked (e.g. `--proposer snapshots` without `--snapshots`, an
    agent proposer without its API key); the message names the option to add."""


class ReplayError(AfrError):
    """A logged candidate cannot be replayed, repeated or exported as logged: unknown id, altered
    record, no score to compare, its base image gone with no faithful rebuild. The message says why."""
