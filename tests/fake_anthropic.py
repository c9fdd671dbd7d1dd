"""A local stand-in for Anthropic's Messages API (`POST /v1/messages`, non-streaming), for tests.

Turns (see fake_api.py for how a script is played):

    reply(*blocks, stop_reason=..., cache_read=..., ...)   a 200 Message with these content blocks
    error(529), error(400, "Your credit balance is too low...")   Anthropic's error body, with its
                           request_id, and the `retry-after` header (seconds) the real API sends
    raw(200, b"not json")  any status and body (a broken reply)

Blocks: text(...) (optionally with web-search citations), thinking(...), tool_use(...),
server_tool_use(...), web_search_result(...), web_search_error(...).
"""
from __future__ import annotations

import json
from typing import Any, Optional

from fake_api import FakeAPI, Script, Turn, ids  # noqa: F401  (Script: for callers' annotations)


def text(value: str, cite: Optional[list[str]] = None) -> dict:
    block: dict[str, Any] = {"type": "text", "text": value}
    if cite:
        block["citations"] = [{"type": "web_search_result_location", "url": url, "title": f"page {i}",
                               "cited_text": value[:40], "encrypted_index": "opaque"} for i, url in enumerate(cite)]
    return block


def thinking(value: str) -> dict:
    return {"type": "thinking", "thinking": value, "signature": f"sig-{next(ids):06d}"}


def tool_use(name: str, **tool_input: Any) -> dict:
    return {"type": "tool_use", "id": f"toolu_fake{next(ids):06d}", "name": name, "input": tool_input}


def server_tool_use(query: str, tool_id: str = "") -> dict:
    return {"type": "server_tool_use", "id": tool_id or f"srvtoolu_fake{next(ids):06d}", "name": "web_search",
            "input": {"query": query}}


def web_search_result(tool_id: str, *urls: str) -> dict:
    return {"type": "web_search_tool_result", "tool_use_id": tool_id,
            "content": [{"type": "web_search_result", "url": url, "title": f"result {i}", "encrypted_content": "opaque",
                         "page_age": None} for i, url in enumerate(urls)]}


def web_search_error(tool_id: str, code: str = "unavailable") -> dict:
    return {"type": "web_search_tool_result", "tool_use_id": tool_id,
            "content": {"type": "web_search_tool_result_error", "error_code": code}}


def reply(*content: dict, stop_reason: str | None = None, input_tokens: int = 1200, output_tokens: int = 150,
          cache_read: int = 0, cache_write: int = 0, model: str = "claude-sonnet-4-6", web_searches: int = 0) -> Turn:
    if stop_reason is None:
        stop_reason = "tool_use" if any(c["type"] == "tool_use" for c in content) else "end_turn"
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens,
                             "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_write}
    if web_searches:
        usage["server_tool_use"] = {"web_search_requests": web_searches, "web_fetch_requests": 0}
    message = {"id": f"msg_fake{next(ids):06d}", "type": "message", "role": "assistant", "model": model,
               "content": list(content), "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}
    return Turn(200, json.dumps(message).encode())


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


def error(status: int, message: str = "scripted failure", retry_after: Optional[int] = None,
          retry_after_ms: Optional[int] = 20) -> Turn:
    """Anthropic's error: {"type": "error", "error": {type, message}, "request_id"} and a request-id header.
    `retry_after` (whole seconds, as the real API sends it on 429/529) replaces the tests' default tiny
    `retry-after-ms`, which keeps the client's own backoff short."""
    request_id = f"req_fake{next(ids):06d}"
    body = {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
            "request_id": request_id}
    headers = {"request-id": request_id}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    elif retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return Turn(status, json.dumps(body).encode(), headers)


def raw(status: int, body: bytes) -> Turn:
    return Turn(status, body)


class FakeAnthropic(FakeAPI):
    route = "/v1/messages"

    def beyond(self, request: dict) -> Turn:
        return error(400, "fake server: script exhausted (the agent made more requests than scripted)")

    def no_route(self, path: str) -> Turn:
        return error(404, f"fake server: no route {path}")


def tool_results(request: dict) -> list[dict]:
    """The tool_result blocks of the request's last user message."""
    last = request["messages"][-1]
    if last["role"] != "user" or isinstance(last["content"], str):
        return []
    return [b for b in last["content"] if b.get("type") == "tool_result"]


def result_text(block: dict) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content)
    return content


def kickoff(request: dict) -> str:
    """The text of the conversation's first user message (the candidate's kickoff)."""
    first = request["messages"][0]["content"]
    return first if isinstance(first, str) else "".join(b.get("text", "") for b in first)
