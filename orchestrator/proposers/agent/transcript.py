"""`agent.jsonl`: what the agent read, wrote and reasoned for one candidate, one JSON event a line.

Written as the conversation goes (a line per event, flushed), so a proposal that failed or a
campaign that stopped mid-conversation leaves its transcript too. Events, in order:

    start        provider, model, candidate, literature mode, the system prompt, tool names, the kickoff
    request      n (1, 2, ...): a request with the conversation so far (its new part is the events since)
    response     n, request_id, stop_reason, blocks (text with citations, thinking, tool_call,
                 server_tool, search_results), usage (tokens in/out/cache), seconds
    error        n, status, kind, message, request_id, what the loop does about it
    wait         seconds waited for an unavailable API, and why
    tool_result  the tool call's id and name, the text the model was given, is_error
    note         a message from the loop to the model (a cut reply, a reply without a tool call)
    end          outcome (submitted / failed / stopped), description or reason, the candidate's usage

Block and event fields are the same for every provider, so the report renders one format.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from afr_box.orchestrator.records.runlog import utc_now


class Transcript:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("", encoding="utf-8")
        self.started = time.monotonic()

    def event(self, event: str, **fields: Any) -> None:
        line = {"event": event, "t": round(time.monotonic() - self.started, 3), **fields}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")

    def start(self, **fields: Any) -> None:
        self.event("start", time=utc_now(), **fields)
