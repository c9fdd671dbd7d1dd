"""A local HTTP server that answers a model API's POST route with scripted turns, for tests.

No model API is reachable here: the real SDK clients (`anthropic`, `openai`) are pointed at this
server through their base URL, so their request building, response parsing and retrying are the
real ones. Each request consumes the next turn of the script:

    Turn(status, body, headers)   any status, body and headers (fake_anthropic / fake_openai build them)
    a callable                    called with the decoded request body (its headers under "_headers");
                                  returns a Turn, so a turn can answer what the agent's tools returned

Every request body is kept in `server.requests` for assertions; `exhausted` says whether the
script was used up. A request beyond the script gets `beyond(request)` (a 400 by default).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Callable, Union

ids = count(1)


@dataclass
class Turn:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


Script = list[Union[Turn, Callable[[dict], Turn]]]


class FakeAPI:
    """Start with `with FakeX(script) as api:`; `api.base_url` goes to the client."""

    route = "/"
    request_id_header = "request-id"

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

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def beyond(self, request: dict) -> Turn:
        raise NotImplementedError

    def no_route(self, path: str) -> Turn:
        raise NotImplementedError

    def _next_turn(self, request: dict) -> Turn:
        with self.lock:
            self.requests.append(request)
            if not self.script:
                return self.beyond(request)
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
                if self.path.split("?")[0] != fake.route:
                    turn = fake.no_route(self.path)
                else:
                    request = json.loads(body)
                    request["_headers"] = {k.lower(): v for k, v in self.headers.items()}
                    turn = fake._next_turn(request)
                self.send_response(turn.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(turn.body)))
                if fake.request_id_header not in {k.lower() for k in turn.headers}:
                    self.send_header(fake.request_id_header, f"req_fake{next(ids):06d}")
                for key, value in turn.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(turn.body)

        return Handler
