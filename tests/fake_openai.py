"""A local stand-in for an OpenAI-compatible Chat Completions API (`POST /v1/chat/completions`,
non-streaming, with tool calls), for tests: what OpenAI, vLLM or Ollama answer. The client's
base URL is `api.base_url + "/v1"` (see `FakeOpenAI.v1`).

    completion(call("read_file", path=...), content="...", finish_reason=..., cached_tokens=...)
    error(429), error(400, "This model's maximum context length is ...", code="context_length_exceeded")
    raw(200, b"not json")
"""
from __future__ import annotations

import json
from typing import Any, Optional

from fake_api import FakeAPI, Turn, ids


def call(name: str, **arguments: Any) -> dict:
    return {"id": f"call_fake{next(ids):06d}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}


def call_raw(name: str, arguments: str) -> dict:
    """A tool call whose arguments string is sent as given (e.g. cut-off JSON)."""
    return {"id": f"call_fake{next(ids):06d}", "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(*tool_calls: dict, content: Optional[str] = None, finish_reason: Optional[str] = None,
               prompt_tokens: int = 1500, completion_tokens: int = 120, cached_tokens: int = 0,
               model: str = "gpt-4.1") -> Turn:
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_calls else "stop"
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    body = {"id": f"chatcmpl-fake{next(ids):06d}", "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens,
                      "prompt_tokens_details": {"cached_tokens": cached_tokens}}}
    return Turn(200, json.dumps(body).encode())


def error(status: int, message: str = "scripted failure", code: Optional[str] = None,
          retry_after: Optional[int] = None) -> Turn:
    kind = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
            429: "rate_limit_exceeded"}.get(status, "server_error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {"retry-after-ms": "20"}
    return Turn(status, json.dumps(body).encode(), headers)


def raw(status: int, body: bytes) -> Turn:
    return Turn(status, body)


class FakeOpenAI(FakeAPI):
    route = "/v1/chat/completions"
    request_id_header = "x-request-id"

    @property
    def v1(self) -> str:
        return self.base_url + "/v1"

    def beyond(self, request: dict) -> Turn:
        return error(400, "fake server: script exhausted (the agent made more requests than scripted)")

    def no_route(self, path: str) -> Turn:
        return error(404, f"fake server: no route {path}")


def tool_messages(request: dict) -> list[dict]:
    """The tool messages at the end of the request (answers to the last assistant message's calls)."""
    out = []
    for message in reversed(request["messages"]):
        if message["role"] != "tool":
            break
        out.insert(0, message)
    return out
