"""The model APIs the built-in agent can talk to; they differ only in how they call the model.

    anthropic.py   the Messages API through the `anthropic` SDK (--proposer claude)
    openai.py      Chat Completions through the `openai` SDK, any compatible endpoint (--proposer openai)

Both are Stainless-generated SDKs with the same error shapes: `status_error` maps an HTTP
status to the loop's error kinds once for both.
"""
from __future__ import annotations

from typing import Optional

from afr_box.orchestrator.proposers.agent.model import Misconfigured, ModelError, Refused, Unavailable

# proposer name -> provider name, and each provider's default model
PROVIDERS = {"claude": "anthropic", "openai": "openai"}
DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4.1"}


def make_provider(name: str, opts):
    if name == "anthropic":
        from afr_box.orchestrator.proposers.agent.providers.anthropic import AnthropicProvider

        return AnthropicProvider(opts)
    if name == "openai":
        from afr_box.orchestrator.proposers.agent.providers.openai import OpenAIProvider

        return OpenAIProvider(opts)
    raise ValueError(f"unknown provider {name!r}")


def retry_after(headers) -> Optional[float]:
    """Seconds the API asked us to wait (`retry-after-ms`, or `retry-after` in seconds), if it did."""
    if headers is None:
        return None
    for key, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return float(headers.get(key)) / scale
        except (TypeError, ValueError):
            continue
    return None


def status_error(status: int, message: str, kind: str, request_id: str, headers) -> ModelError:
    """The loop's error kind for an HTTP error status the SDK gave up on (after its own retries)."""
    args = dict(status=status, kind=kind, request_id=request_id or "", retry_after=retry_after(headers))
    if status in (401, 403, 404):
        return Misconfigured(message, **args)
    if status in (408, 409, 429) or status >= 500:
        return Unavailable(message, **args)
    return Refused(message, **args)
