"""A local stand-in for Anthropic's Messages API, for tests (no real API is reachable here).

A real HTTP server on 127.0.0.1 that answers `POST /v1/messages` (non-streaming) with
scripted turns, so the real `anthropic` client (pointed at it through `base_url`) does its
real request building, response parsing and retrying. Each request consumes the next turn:

    reply(...)             a 200 Message with the given content blocks
    error(529)             an HTTP error with Anthropic's error body (the client retries 429/5xx)
    raw(200, b"not json")  any status and body (a broken reply)
    a callable             called with the decoded request body; returns one of the above,
                           so a turn can answer what the agent's tools returned

Every request body is kept in `server.requests` for assertions.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any, Callable, Union

_ids = count(1)


@dataclass
class Turn:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def text(value: str) -> dict:
    return {"type": "text", "text": value}


def tool_use(name: str, **tool_input: Any) -> dict:
    return {"type": "tool_use", "id": f"toolu_fake{next(_ids):06d}", "name": name, "input": tool_input}


def reply(*content: dict, stop_reason: str | None = None, input_tokens: int = 1200, output_tokens: int = 150,
          model: str = "claude-sonnet-4-6", web_searches: int = 0) -> Turn:
    if stop_reason is None:
        stop_reason = "tool_use" if any(c["type"] == "tool_use" for c in content) else "end_turn"
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if web_searches:
        usage["server_tool_use"] = {"web_search_requests": web_searches}
    message = {"id": f"msg_fake{next(_ids):06d}", "type": "message", "role": "assistant", "model": model,
               "content": list(content), "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}
    return Turn(200, json.dumps(message).encode())


def error(status: int, message: str = "scripted failure") -> Turn:
    kind = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error", 401: "authentication_error",
            400: "invalid_request_error"}.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    # A tiny retry-after keeps the client's backoff short in tests.
    return Turn(status, json.dumps(body).encode(), {"retry-after-ms": "20"})


def raw(status: int, body: bytes) -> Turn:
    return Turn(status, body)


Script = list[Union[Turn, Callable[[dict], Turn]]]


class FakeAnthropic:
    """Start with `with FakeAnthropic(script) as api:`; `api.base_url` goes to the client."""

    def __init__(self, script: Script):
        self.script = list(script)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def exhausted(self) -> bool:
        return not self.script

    def __enter__(self) -> "FakeAnthropic":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next_turn(self, request: dict) -> Turn:
        with self.lock:
            self.requests.append(request)
            if not self.script:
                return error(400, "fake server: script exhausted (the agent made more requests than scripted)")
            turn = self.script.pop(0)
        return turn(request) if callable(turn) else turn

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if self.path.split("?")[0] != "/v1/messages":
                    turn = error(404, f"fake server: no route {self.path}")
                else:
                    request = json.loads(body)
                    request["_headers"] = {k.lower(): v for k, v in self.headers.items()}
                    turn = fake._next_turn(request)
                self.send_response(turn.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(turn.body)))
                self.send_header("request-id", f"req_fake{next(_ids):06d}")
                for key, value in turn.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(turn.body)

        return Handler


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
