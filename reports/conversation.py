"""The agent's conversations in `report.html`: one readable view per candidate, from `agent.jsonl`.

For each candidate that has a transcript: the first message, then every reply (text, thinking,
tool calls with their arguments, web searches and what they found, the stop reason, tokens and
request id), every tool result, every note, error and wait of the loop, how it ended, and the
files it wrote (the candidate's diff against the baseline). Everything the agent wrote is
untrusted text: the template escapes all of it (jinja2 autoescape), links are never made from
it, and no script runs in the page.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from jinja2 import Environment, FileSystemLoader

from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.runlog import Row

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
MAX_TEXT = 20000            # characters of one tool result or argument shown; the rest is cut, with a note
_env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                   trim_blocks=True, lstrip_blocks=True)


def _clip(text: Any) -> str:
    text = text if isinstance(text, str) else json.dumps(text, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n... ({len(text) - MAX_TEXT} more characters)"


def _call_view(block: dict) -> dict[str, Any]:
    """A tool call: its name, and its arguments with a file's content shown as a file."""
    args = block.get("input")
    content = args.get("content") if isinstance(args, dict) and isinstance(args.get("content"), str) else None
    rest = {k: v for k, v in args.items() if k != "content"} if content is not None else args
    return {"kind": "tool_call", "name": str(block.get("name", "")), "id": str(block.get("id", "")),
            "args": _clip(rest) if rest not in (None, {}) else "", "content": _clip(content) if content else None,
            "problem": str(block.get("problem", ""))}


def _block_view(block: dict) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"kind": "text", "text": _clip(block.get("text", "")),
                "citations": [str(c.get("url", "")) for c in block.get("citations", []) if isinstance(c, dict)]}
    if kind == "thinking":
        return {"kind": "thinking", "text": _clip(block.get("text", ""))}
    if kind == "tool_call":
        return _call_view(block)
    if kind == "server_tool":
        return {"kind": "server_tool", "name": str(block.get("name", "")), "args": _clip(block.get("input", {}))}
    if kind == "search_results":
        return {"kind": "search_results", "error": str(block.get("error", "") or ""),
                "results": [f"{r.get('title') or ''} {r.get('url', '')}".strip() for r in block.get("results", [])
                            if isinstance(r, dict)]}
    return {"kind": "other", "text": str(kind)}


@dataclass
class Conversation:
    candidate: str
    status: str
    score: str
    description: str
    header: dict[str, Any] = field(default_factory=dict)   # the start event
    turns: list[dict[str, Any]] = field(default_factory=list)
    end: Optional[dict[str, Any]] = None
    diff: list[tuple[str, str]] = field(default_factory=list)  # (css class, line)


def _turn(event: dict) -> Optional[dict[str, Any]]:
    kind = event.get("event")
    if kind == "response":
        usage = event.get("usage") or {}
        return {"kind": "assistant", "n": event.get("n"), "blocks": [_block_view(b) for b in event.get("blocks", [])
                                                                     if isinstance(b, dict)],
                "stop": str(event.get("stop_reason", "")), "request_id": str(event.get("request_id", "")),
                "tokens": ", ".join(f"{k} {v}" for k, v in usage.items() if v), "seconds": event.get("seconds")}
    if kind == "tool_result":
        return {"kind": "tool", "name": str(event.get("name", "")), "text": _clip(event.get("text", "")),
                "error": bool(event.get("is_error"))}
    if kind == "note":
        return {"kind": "note", "text": _clip(event.get("text", ""))}
    if kind == "error":
        return {"kind": "error", "text": f"{event.get('status') or ''} {event.get('kind', '')}: {event.get('message', '')}",
                "request_id": str(event.get("request_id") or ""), "action": str(event.get("action", ""))}
    if kind == "wait":
        return {"kind": "wait", "text": f"waited {event.get('seconds')} s: {event.get('why', '')}"}
    return None


def _diff_lines(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        css = ("meta" if line.startswith(("+++", "---", "@@")) else "add" if line.startswith("+")
               else "del" if line.startswith("-") else "")
        out.append((css, line))
    return out


def read_conversation(path: Path, row: Row, diff_file: Path) -> Optional[Conversation]:
    if not path.is_file():
        return None
    conv = Conversation(row.candidate, str(row.status), "" if row.score is None else f"{row.score:.6g}",
                        row.description)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if event.get("event") == "start":
            conv.header = {k: _clip(event.get(k, "")) for k in ("provider", "model", "system", "kickoff")}
            conv.header["literature"] = bool(event.get("literature"))
        elif event.get("event") == "end":
            usage = event.get("usage") or {}
            cost = usage.get("cost_usd_estimate")
            conv.end = {"outcome": str(event.get("outcome", "")),
                        "text": str(event.get("description") or event.get("reason") or ""),
                        "usage": (f"{usage.get('requests', 0)} requests, {usage.get('input_tokens', 0)} in / "
                                  f"{usage.get('output_tokens', 0)} out / {usage.get('cache_read_input_tokens', 0)} "
                                  f"cache read / {usage.get('cache_creation_input_tokens', 0)} cache write tokens, "
                                  f"{usage.get('tool_calls', 0)} tool calls, "
                                  + (f"~${cost:.4f}" if isinstance(cost, (int, float)) else "cost unknown"))}
        else:
            turn = _turn(event)
            if turn is not None:
                conv.turns.append(turn)
    if diff_file.is_file():
        conv.diff = _diff_lines(_clip(diff_file.read_text(encoding="utf-8", errors="replace")))
    return conv


def conversations(campaign_dir: Path, rows: list[Row]) -> list[Conversation]:
    folder = CampaignFolder(campaign_dir)
    found = []
    for row in rows:
        record = folder.artifacts(row.artifacts)
        conv = read_conversation(record.transcript, row, record.surface_diff)
        if conv is not None:
            found.append(conv)
    return found


def conversations_html(campaign_dir: Path, rows: list[Row]) -> str:
    """The 'Agent conversations' section of report.html ('' when no candidate has a transcript)."""
    found = conversations(campaign_dir, rows)
    return _env.get_template("conversation.html.j2").render(conversations=found) if found else ""
