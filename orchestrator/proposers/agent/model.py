"""What the agent loop needs from a model API, whatever the provider: replies and errors.

A provider (providers/anthropic.py, providers/openai.py) turns its SDK's responses into a
`Reply` and its SDK's exceptions into one of the `ModelError` kinds below, and keeps the
conversation in its own wire format (`Conversation`). The loop (loop.py) decides what each
stop reason and each error kind means for the candidate and the campaign, once for both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Optional, Protocol

from afr_box.orchestrator.proposers.agent.usage import Tokens


class Stop(StrEnum):
    """Why a reply ended, in the loop's terms."""

    TOOL_USE = "tool_use"          # it called tools (ours, to run)
    END = "end"                    # it finished its turn without a call
    MAX_TOKENS = "max_tokens"      # cut off at max_tokens: any tool call in it is incomplete
    PAUSE = "pause"                # a long server-side tool turn paused: send it back to continue
    REFUSAL = "refusal"            # the model declined
    CONTEXT_FULL = "context_full"  # the conversation filled the context window


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: Any
    problem: str = ""              # why the arguments could not be read (not JSON), if so


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str
    text: str
    is_error: bool = False


@dataclass
class Reply:
    stop: Stop
    raw_stop: str                  # the provider's own stop reason, as sent
    calls: list[ToolCall]
    tokens: Tokens
    request_id: str = ""
    cited: list[str] = field(default_factory=list)   # URLs the reply's text cites (web search citations)
    blocks: list[dict] = field(default_factory=list)  # the reply as transcript blocks (text, thinking, tool_call, ...)
    detail: str = ""               # e.g. a refusal's category and explanation
    native: Any = None             # the provider's own form, sent back as the assistant turn


class ModelError(Exception):
    """A request that got no usable reply. `status` is the HTTP status (0: none)."""

    def __init__(self, message: str, *, status: int = 0, kind: str = "", request_id: str = "",
                 retry_after: Optional[float] = None):
        super().__init__(message)
        self.status, self.kind, self.request_id, self.retry_after = status, kind, request_id, retry_after

    def describe(self) -> str:
        head = " ".join(str(p) for p in (self.status or "", self.kind) if p)
        tail = f" (request {self.request_id})" if self.request_id else ""
        return f"{head + ': ' if head else ''}{self}{tail}"


class Unavailable(ModelError):
    """Overloaded, rate-limited, a server error or no connection, after the client's own
    retries: waited out (the API will come back), never charged to a candidate."""


class Refused(ModelError):
    """The API refused this request as invalid (400, 413, 402 billing): sending it again fails
    again. On a candidate's opening request it stops the campaign."""


class Misconfigured(ModelError):
    """No retry can fix it: a refused key (401), no access (403), an unknown model or route
    (404), a request the SDK will not send as configured. The campaign stops."""


class BrokenReply(ModelError):
    """A reply that came back but cannot be used (not JSON, not a message): costs an attempt."""


class Conversation(Protocol):
    """One candidate's conversation in the provider's wire format."""

    def send(self) -> Reply:
        """One request with the conversation so far; raises a ModelError kind."""

    def add_reply(self, reply: Reply) -> None:
        """Append the model's reply as the assistant turn (thinking and server blocks kept as sent)."""

    def add_results(self, results: list[ToolResult], note: str = "") -> None:
        """Answer every tool call of the last reply, optionally followed by a note from us."""

    def add_note(self, text: str) -> None:
        """A user turn from us after a reply without tool calls."""


class Provider(Protocol):
    name: str                      # "anthropic" / "openai"
    env_hint: str                  # how a user gives this provider its key

    def conversation(self, system: str, tools: list[dict], kickoff: str, web_search: bool) -> Conversation:
        """Start a conversation: `tools` are neutral specs (name, description, input_schema)."""
