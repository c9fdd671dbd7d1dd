"""The Anthropic Messages API (tool use, server-side web search, prompt caching) as a provider.

Prompt caching: the request starts with what never changes within a campaign (the tools, then
the system prompt: the program), each closed by a `cache_control` breakpoint, and a third
breakpoint moves to the last block of the conversation so each turn reads the previous turns
from the cache. What changes per candidate (plateau note, literature mode, recent rows) is in
the first user message, after the cached prefix.

Replies are sent back as they came (thinking blocks with their signatures, server tool blocks,
citations), as the API requires for tool use with thinking and for a paused turn.
"""
from __future__ import annotations

import copy
import os
from typing import Any

from afr_box.orchestrator.errors import ProposerError
from afr_box.orchestrator.proposers.agent.model import (BrokenReply, Misconfigured, ModelError, Reply, Stop, ToolCall,
                                                        ToolResult)
from afr_box.orchestrator.proposers.agent.providers import status_error
from afr_box.orchestrator.proposers.agent.usage import Tokens

WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
CACHE = {"type": "ephemeral"}
STOPS = {"tool_use": Stop.TOOL_USE, "end_turn": Stop.END, "stop_sequence": Stop.END, "max_tokens": Stop.MAX_TOKENS,
         "pause_turn": Stop.PAUSE, "refusal": Stop.REFUSAL, "model_context_window_exceeded": Stop.CONTEXT_FULL}


def make_client(opts):
    """An `anthropic.Anthropic` client: ANTHROPIC_API_KEY (x-api-key), or ANTHROPIC_AUTH_TOKEN (a bearer
    token, as gateways take); --base-url or ANTHROPIC_BASE_URL for a gateway or a local server."""
    import anthropic

    key = os.environ.get("ANTHROPIC_API_KEY", "").strip() or None
    token = os.environ.get("ANTHROPIC_AUTH_TOKEN", "").strip() or None
    if not key and not token:
        raise ProposerError("--proposer claude needs an Anthropic API key in ANTHROPIC_API_KEY (or a bearer token in "
                            "ANTHROPIC_AUTH_TOKEN for a gateway); set it, or run a scripted search instead: "
                            "--proposer hpo")
    return anthropic.Anthropic(api_key=key, auth_token=None if key else token, base_url=opts.base_url or None,
                               max_retries=opts.max_retries)


def _error(exc: Exception, opts) -> ModelError:
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = str(err.get("message") or exc.message)
        if exc.status_code == 404:
            message = f"no such model or route ({message}); check --model {opts.model}"
        return status_error(exc.status_code, message, str(err.get("type") or ""),
                            exc.request_id or str(body.get("request_id") or ""), exc.response.headers)
    if isinstance(exc, anthropic.APIConnectionError):
        return status_error(503, f"no answer from the API ({exc})", "connection", "", None)
    if isinstance(exc, ValueError) and "Streaming is required" in str(exc):
        return Misconfigured(f"the anthropic SDK will not send --max-tokens {opts.max_tokens} to {opts.model} without "
                             "streaming (a request that may take over 10 minutes); lower --max-tokens",
                             kind="streaming_required")
    return BrokenReply(f"the reply could not be read: {type(exc).__name__}: {exc}"[:300], kind="broken_reply")


def _blocks(content: list) -> tuple[list[dict], list[ToolCall], list[str]]:
    """Transcript blocks, our tool calls, and the URLs the text cites."""
    blocks, calls, cited = [], [], []
    for block in content:
        kind = getattr(block, "type", None)
        if kind == "text":
            urls = [c.url for c in (block.citations or []) if getattr(c, "url", None)]
            cited += [u for u in urls if u not in cited]
            blocks.append({"type": "text", "text": block.text,
                           **({"citations": [{"url": c.url, "title": getattr(c, "title", None),
                                              "cited_text": getattr(c, "cited_text", "")}
                                             for c in block.citations if getattr(c, "url", None)]}
                              if block.citations else {})})
        elif kind == "thinking":
            blocks.append({"type": "thinking", "text": block.thinking})
        elif kind == "redacted_thinking":
            blocks.append({"type": "thinking", "text": "(redacted by the API)"})
        elif kind == "tool_use":
            calls.append(ToolCall(block.id, block.name, block.input))
            blocks.append({"type": "tool_call", "id": block.id, "name": block.name, "input": block.input})
        elif kind == "server_tool_use":
            blocks.append({"type": "server_tool", "id": block.id, "name": block.name, "input": block.input})
        elif kind == "web_search_tool_result":
            if isinstance(block.content, list):
                blocks.append({"type": "search_results", "results": [{"url": r.url, "title": r.title}
                                                                     for r in block.content]})
            else:
                blocks.append({"type": "search_results", "error": getattr(block.content, "error_code", "error")})
        else:
            blocks.append({"type": str(kind)})
    return blocks, calls, cited


class AnthropicConversation:
    def __init__(self, provider: "AnthropicProvider", system: str, tools: list[dict], kickoff: str, web_search: bool):
        self.provider = provider
        own = [dict(t) for t in tools]
        own[-1]["cache_control"] = CACHE  # breakpoint 1: the tools
        self.tools = own + ([dict(WEB_SEARCH_TOOL)] if web_search else [])
        self.system = [{"type": "text", "text": system, "cache_control": CACHE}]  # breakpoint 2: the program
        self.messages: list[dict] = [{"role": "user", "content": [{"type": "text", "text": kickoff}]}]

    def request(self) -> dict[str, Any]:
        """This turn's request parameters; breakpoint 3 on the last block of the last user turn (an
        assistant turn that follows it is a paused one, whose thinking blocks take no breakpoint)."""
        messages = copy.deepcopy(self.messages)
        last_user = next(m for m in reversed(messages) if m["role"] == "user")
        last_user["content"][-1]["cache_control"] = CACHE
        opts = self.provider.opts
        params = dict(model=opts.model, max_tokens=opts.max_tokens, system=self.system, tools=self.tools,
                      messages=messages)
        if opts.thinking:
            params["thinking"] = {"type": "adaptive"}
        return params

    def send(self) -> Reply:
        try:
            response = self.provider.client.messages.create(**self.request())
        except Exception as exc:  # the SDK's errors (and its ValueErrors) become the loop's kinds
            raise _error(exc, self.provider.opts) from exc
        content, usage = getattr(response, "content", None), getattr(response, "usage", None)
        if not isinstance(content, list) or usage is None or getattr(response, "type", None) != "message":
            raise BrokenReply("the reply is not a Messages API message (no content or usage)", kind="broken_reply",
                              request_id=getattr(response, "_request_id", "") or "")
        blocks, calls, cited = _blocks(content)
        server = getattr(usage, "server_tool_use", None)
        tokens = Tokens(input=usage.input_tokens or 0, output=usage.output_tokens or 0,
                        cache_read=usage.cache_read_input_tokens or 0,
                        cache_write=usage.cache_creation_input_tokens or 0,
                        web_searches=(getattr(server, "web_search_requests", 0) or 0) if server else 0)
        raw_stop = response.stop_reason or ""
        details = getattr(response, "stop_details", None)
        detail = " ".join(str(x) for x in (getattr(details, "category", None), getattr(details, "explanation", None))
                          if x) if details else ""
        return Reply(stop=STOPS.get(raw_stop, Stop.TOOL_USE if calls else Stop.END), raw_stop=raw_stop, calls=calls,
                     tokens=tokens, request_id=getattr(response, "_request_id", "") or "", cited=cited, blocks=blocks,
                     detail=detail, native=[b.model_dump(mode="json", exclude_none=True) for b in content])

    def add_reply(self, reply: Reply) -> None:
        if reply.native:
            self.messages.append({"role": "assistant", "content": reply.native})

    def add_results(self, results: list[ToolResult], note: str = "") -> None:
        content: list[dict] = [{"type": "tool_result", "tool_use_id": r.call_id, "content": r.text,
                                **({"is_error": True} if r.is_error else {})} for r in results]
        if note:
            content.append({"type": "text", "text": note})
        self.messages.append({"role": "user", "content": content})

    def add_note(self, text: str) -> None:
        self.messages.append({"role": "user", "content": [{"type": "text", "text": text}]})


class AnthropicProvider:
    name = "anthropic"
    env_hint = "ANTHROPIC_API_KEY"

    def __init__(self, opts, client=None):
        self.opts = opts
        self.client = client or make_client(opts)

    def conversation(self, system: str, tools: list[dict], kickoff: str, web_search: bool) -> AnthropicConversation:
        return AnthropicConversation(self, system, tools, kickoff, web_search)
