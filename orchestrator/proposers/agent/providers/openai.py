"""OpenAI Chat Completions with tool calls as a provider: OpenAI itself, or any compatible endpoint
(`--base-url`: a vLLM or Ollama server a lab runs, a gateway).

The same tools as the Anthropic provider, as `function` tools. OpenAI caches long prompt prefixes
by itself (`prompt_tokens_details.cached_tokens`), so the stable prefix (the program as the
system message, the tools) serves it too; there is no cache-write charge. Tool-call arguments
arrive as a JSON string: one that does not parse is a malformed call. A local endpoint often
needs no key: with a base URL and no OPENAI_API_KEY the client sends a placeholder. OpenAI's
own API takes `max_completion_tokens`; other endpoints are sent the widely understood `max_tokens`.
"""
from __future__ import annotations

import json
import os
from typing import Any

from afr_box.orchestrator.errors import ProposerError
from afr_box.orchestrator.proposers.agent.model import BrokenReply, ModelError, Reply, Stop, ToolCall, ToolResult
from afr_box.orchestrator.proposers.agent.providers import status_error
from afr_box.orchestrator.proposers.agent.usage import Tokens

NO_KEY = "unused-by-this-endpoint"
STOPS = {"tool_calls": Stop.TOOL_USE, "function_call": Stop.TOOL_USE, "stop": Stop.END, "length": Stop.MAX_TOKENS,
         "content_filter": Stop.REFUSAL}


def base_url(opts) -> str:
    return opts.base_url or os.environ.get("OPENAI_BASE_URL", "").strip()


def make_client(opts):
    import openai

    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key and not base_url(opts):
        raise ProposerError("--proposer openai needs an API key in OPENAI_API_KEY (or --base-url of an OpenAI-compatible "
                            "server that needs none, e.g. a local vLLM or Ollama); set it, or run a scripted search "
                            "instead: --proposer hpo")
    return openai.OpenAI(api_key=key or NO_KEY, base_url=base_url(opts) or None, max_retries=opts.max_retries)


def _error(exc: Exception, opts) -> ModelError:
    import openai

    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        message = str(err.get("message") or exc.message)
        if exc.status_code == 404:
            message = f"no such model or route ({message}); check --model {opts.model} and --base-url"
        return status_error(exc.status_code, message, str(err.get("code") or err.get("type") or ""),
                            exc.request_id or "", exc.response.headers)
    if isinstance(exc, openai.APIConnectionError):
        return status_error(503, f"no answer from {base_url(opts) or 'the API'} ({exc})", "connection", "", None)
    return BrokenReply(f"the reply could not be read: {type(exc).__name__}: {exc}"[:300], kind="broken_reply")


def _arguments(text: Any) -> tuple[Any, str]:
    if isinstance(text, dict):
        return text, ""
    try:
        return json.loads(text or "{}"), ""
    except (TypeError, ValueError) as exc:
        return None, f"the arguments are not JSON ({exc})"


class OpenAIConversation:
    def __init__(self, provider: "OpenAIProvider", system: str, tools: list[dict], kickoff: str):
        self.provider = provider
        self.tools = [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                                        "parameters": t["input_schema"]}} for t in tools]
        self.messages: list[dict] = [{"role": "system", "content": system}, {"role": "user", "content": kickoff}]

    def request(self) -> dict[str, Any]:
        opts = self.provider.opts
        limit = "max_tokens" if base_url(opts) else "max_completion_tokens"
        return {"model": opts.model, "messages": list(self.messages), "tools": self.tools, limit: opts.max_tokens}

    def send(self) -> Reply:
        try:
            response = self.provider.client.chat.completions.create(**self.request())
        except Exception as exc:
            raise _error(exc, self.provider.opts) from exc
        request_id = getattr(response, "_request_id", "") or ""
        choices, usage = getattr(response, "choices", None), getattr(response, "usage", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise BrokenReply("the reply has no choices[0].message", kind="broken_reply", request_id=request_id)
        choice, message = choices[0], choices[0].message
        blocks: list[dict] = []
        reasoning = (message.model_extra or {}).get("reasoning_content") or (message.model_extra or {}).get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            blocks.append({"type": "thinking", "text": reasoning})
        if message.content:
            blocks.append({"type": "text", "text": message.content})
        if message.refusal:
            blocks.append({"type": "text", "text": f"(refusal) {message.refusal}"})
        calls, sent_calls = [], []
        for call in message.tool_calls or []:
            function = getattr(call, "function", None)
            name, raw = getattr(function, "name", "") or "", getattr(function, "arguments", "")
            args, problem = _arguments(raw)
            calls.append(ToolCall(call.id, name, args, problem))
            blocks.append({"type": "tool_call", "id": call.id, "name": name,
                           "input": args if not problem else raw, **({"problem": problem} if problem else {})})
            sent_calls.append({"id": call.id, "type": "function",
                               "function": {"name": name, "arguments": raw if isinstance(raw, str) else json.dumps(raw)}})
        details = getattr(usage, "prompt_tokens_details", None)
        cached = (getattr(details, "cached_tokens", 0) or 0) if details else 0
        prompt = (getattr(usage, "prompt_tokens", 0) or 0) if usage else 0
        tokens = Tokens(input=max(prompt - cached, 0), output=(getattr(usage, "completion_tokens", 0) or 0) if usage else 0,
                        cache_read=cached)
        raw_stop = choice.finish_reason or ""
        stop = Stop.REFUSAL if message.refusal else STOPS.get(raw_stop, Stop.END)
        if stop == Stop.END and calls:  # some compatible servers say "stop" with tool calls
            stop = Stop.TOOL_USE
        native = {"role": "assistant", "content": message.content, **({"tool_calls": sent_calls} if sent_calls else {})}
        return Reply(stop=stop, raw_stop=raw_stop, calls=calls, tokens=tokens, request_id=request_id, blocks=blocks,
                     detail=message.refusal or "", native=native)

    def add_reply(self, reply: Reply) -> None:
        if reply.native:
            self.messages.append(reply.native)

    def add_results(self, results: list[ToolResult], note: str = "") -> None:
        for r in results:
            self.messages.append({"role": "tool", "tool_call_id": r.call_id,
                                  "content": f"[error] {r.text}" if r.is_error else r.text})
        if note:
            self.messages.append({"role": "user", "content": note})

    def add_note(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})


class OpenAIProvider:
    name = "openai"
    env_hint = "OPENAI_API_KEY"

    def __init__(self, opts, client=None):
        if opts.literature == "web":
            raise ProposerError("--literature web uses Anthropic's server-side web search tool; with --proposer openai "
                                "use --literature knowledge (or off)")
        self.opts = opts
        self.client = client or make_client(opts)

    def conversation(self, system: str, tools: list[dict], kickoff: str, web_search: bool) -> OpenAIConversation:
        return OpenAIConversation(self, system, tools, kickoff)
