"""The built-in Claude proposer: an agent with tools works on a copy of the surface and submits.

For each candidate the agent starts from the best kept surface (keep/discard semantics: a
discarded idea is dropped), sees the run log, reads and writes surface files through
`AgentTools` (every path checked by the gate's own rules) and ends its turn with
`submit_candidate`. One conversation per candidate, so `--resume` needs no agent state.

Failures are bounded: the `anthropic` client retries 429/5xx/529 with backoff itself; a
request that still fails, an empty or text-only reply, or a malformed tool call costs one
*attempt*; when a candidate's attempts (or turns) run out, `ProposalFailed` makes the
campaign log a crash row for that candidate and go on. Only a configuration error (no key,
a key the API refuses, an unknown model) stops the campaign.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from afr_box.orchestrator.proposers.agent.program import render_program
from afr_box.orchestrator.proposers.agent.tools import SUBMIT, TOOL_SPECS, AgentTools, MalformedCall, Submission, ToolRefused
from afr_box.orchestrator.proposers.agent.usage import AgentUsage
from afr_box.orchestrator.errors import CampaignError, ProposerError
from afr_box.orchestrator.proposers import ProposalFailed
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.records.runlog import Row, best_row
from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.orchestrator.pipeline.watchdog import plateau_state
from afr_box.policies.schema import Policy
from afr_box.profiles.schema import Profile

DEFAULT_MODEL = "claude-sonnet-4-6"
LITERATURE_MODES = ("off", "knowledge", "web")
WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}


@dataclass(frozen=True)
class ClaudeOptions:
    model: str = DEFAULT_MODEL
    max_tokens: int = 8192
    max_turns: int = 40          # requests per candidate
    max_attempts: int = 3        # broken replies / failed requests tolerated per candidate
    max_retries: int = 4         # the client's own retries of 429/5xx/529, with backoff
    attempt_backoff_s: float = 2.0
    literature: str = "knowledge"  # off: never; knowledge: cite from own knowledge; web: server-side web search

    def __post_init__(self):
        if self.literature not in LITERATURE_MODES:
            raise ValueError(f"literature must be one of {', '.join(LITERATURE_MODES)}, got {self.literature!r}")


@dataclass
class LiteratureEvent:
    sources: list[str]
    summary: str
    elapsed_s: float
    web_search_requests: int = 0
    agent: dict[str, Any] = field(default_factory=dict)


def make_client(opts: ClaudeOptions):
    """An `anthropic.Anthropic` client; ANTHROPIC_BASE_URL (e.g. a local test server) is honoured by the SDK."""
    import anthropic

    key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
    if not key:
        raise ProposerError("--proposer claude needs an Anthropic API key in ANTHROPIC_API_KEY; set it, or run "
                            "a scripted search instead: --proposer hpo")
    return anthropic.Anthropic(api_key=key, max_retries=opts.max_retries)


def _fatal(exc: Exception) -> Optional[str]:
    """A request error no retry can fix (the campaign must stop), or None."""
    import anthropic

    if isinstance(exc, anthropic.AuthenticationError):
        return "the Anthropic API refused the key in ANTHROPIC_API_KEY (401); check it, or use --proposer hpo"
    if isinstance(exc, anthropic.PermissionDeniedError):
        return "the Anthropic API denied access (403) for this key; check its permissions, or use --proposer hpo"
    if isinstance(exc, anthropic.NotFoundError):
        return f"the Anthropic API does not know this model or route (404): {exc}; check --model"
    return None


def _as_param(block: Any) -> dict:
    """A response content block as a request content block (to send the conversation back)."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return block.model_dump(mode="json", exclude_none=True)


def _web_sources(blocks: list) -> list[str]:
    urls = []
    for block in blocks:
        if getattr(block, "type", None) == "web_search_tool_result" and isinstance(block.content, list):
            urls += [r.url for r in block.content if getattr(r, "url", None)]
    return urls


class ClaudeProposer:
    name = "claude"

    def __init__(self, task: str, policy: Policy, profile: Profile, opts: ClaudeOptions, client=None):
        self.task, self.policy, self.profile, self.opts = task, policy, profile, opts
        self.client = client or make_client(opts)
        self.literature_pending = False      # set by the campaign when the watchdog fires
        self.literature_event: Optional[LiteratureEvent] = None  # taken by the campaign after propose()

    # -------------------------------------------------------------- the campaign's interface

    def wants_literature(self, rows: list[Row]) -> bool:
        return self.opts.literature != "off" and plateau_state(rows, self.profile.plateau_threshold).fired

    def take_literature_event(self) -> Optional[LiteratureEvent]:
        event, self.literature_event = self.literature_event, None
        return event

    def propose(self, index: int, workspace: Path, history: list[Row]) -> Proposal:
        campaign_dir = workspace.parent
        work = self._reset_working_copy(workspace / "agent", campaign_dir, history)
        literature = self.literature_pending
        tools = AgentTools(self.task, self.policy, campaign_dir, work, require_sources=literature)
        web = literature and self.opts.literature == "web"
        plateau = plateau_state(history, self.profile.plateau_threshold)
        system = render_program("builtin", self.profile, self.policy, literature_mode=literature,
                                plateau_note=plateau.describe(), web_search=web)
        usage = AgentUsage(self.opts.model)
        start = time.monotonic()
        try:
            submission, web_urls = self._converse(index, system, tools, history, usage, web)
        finally:
            usage.seconds = time.monotonic() - start
        snap = workspace / f"proposal-{index:04d}"
        shutil.rmtree(snap, ignore_errors=True)
        shutil.copytree(work, snap)
        sources = submission.sources + [u for u in web_urls if u not in submission.sources][:3]
        if literature:
            self.literature_pending = False
            self.literature_event = LiteratureEvent(sources, submission.description, usage.seconds,
                                                    usage.web_search_requests, usage.record())
        description = f"claude: {submission.description}" + (f" [src: {'; '.join(sources)}]" if sources else "")
        return Proposal(snapshot=snap, description=description, proposer=self.name, sources=sources,
                        agent=usage.record())

    # -------------------------------------------------------------- internals

    def _reset_working_copy(self, work: Path, campaign_dir: Path, history: list[Row]) -> Path:
        """The best kept surface (the baseline's when nothing beat it): discarded ideas are dropped."""
        best = best_row(history, self.profile.metric.higher_is_better)
        kept = campaign_dir / best.artifacts / "surface" if best is not None else None
        if kept is not None and kept.is_dir():
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(kept, work)
            return work
        return baseline_snapshot(self.task, self.policy, work)

    def _kickoff(self, index: int, history: list[Row]) -> str:
        best = best_row(history, self.profile.metric.higher_is_better)
        lines = [f"Propose candidate {index:04d}."]
        if best is not None and best.score is not None:
            lines.append(f"Your working copy holds the best kept surface: candidate {best.candidate}, "
                         f"{self.profile.metric.name} {best.score:.4f} ({best.description}).")
        recent = history[-8:]
        if recent:
            lines.append("Most recent rows (candidate, status, score, description, reason):")
            lines += [f"  {r.candidate} {r.status} {'' if r.score is None else f'{r.score:.4f}'} "
                      f"{r.description} {r.reason}"[:300] for r in recent]
        if self.literature_pending:
            lines.append("LITERATURE MODE: the search has plateaued; base this candidate on published work and "
                         "cite it in `sources`.")
        lines.append(f"Make one focused change, then call {SUBMIT}.")
        return "\n".join(lines)

    def _request(self, system: str, messages: list, web: bool):
        tools = TOOL_SPECS + ([WEB_SEARCH_TOOL] if web else [])
        return self.client.messages.create(model=self.opts.model, max_tokens=self.opts.max_tokens, system=system,
                                           tools=tools, messages=messages)

    def _converse(self, index: int, system: str, tools: AgentTools, history: list[Row], usage: AgentUsage,
                  web: bool) -> tuple[Submission, list[str]]:
        import anthropic

        messages: list[dict] = [{"role": "user", "content": self._kickoff(index, history)}]
        failures: list[str] = []
        web_urls: list[str] = []

        def fail(why: str) -> None:
            usage.failed_attempts += 1
            failures.append(why)
            if usage.failed_attempts >= self.opts.max_attempts:
                raise ProposalFailed(f"agent gave no candidate after {usage.failed_attempts} failed attempts: "
                                     f"{'; '.join(failures)}"[:600], usage)

        for _ in range(self.opts.max_turns):
            try:
                response = self._request(system, messages, web)
            except (anthropic.APIError, ValueError) as exc:  # ValueError: a 200 reply whose body is not JSON
                fatal = _fatal(exc)
                if fatal:
                    raise CampaignError(fatal) from exc
                fail(f"request failed after retries: {type(exc).__name__}: {exc}"[:200])
                time.sleep(self.opts.attempt_backoff_s * usage.failed_attempts)
                continue
            usage.add_response(response.usage)
            blocks = list(response.content or [])
            web_urls += _web_sources(blocks)
            if response.stop_reason == "pause_turn":  # a long server-side tool turn: let it continue
                messages.append({"role": "assistant", "content": [_as_param(b) for b in blocks]})
                continue
            calls = [b for b in blocks if getattr(b, "type", None) == "tool_use"]
            if not calls:
                fail(f"reply with no tool call (stop_reason {response.stop_reason})")
                if blocks:
                    messages.append({"role": "assistant", "content": [_as_param(b) for b in blocks]})
                    messages.append({"role": "user", "content": f"Use the tools; finish by calling {SUBMIT}."})
                continue
            messages.append({"role": "assistant", "content": [_as_param(b) for b in blocks]})
            results, submission = [], None
            for call in calls:
                usage.tool_calls += 1
                try:
                    if call.name == SUBMIT:
                        submission = tools.submission(call.input)
                        text = "submitted"
                    else:
                        text = tools.call(call.name, call.input)
                    results.append({"type": "tool_result", "tool_use_id": call.id, "content": text})
                except ToolRefused as exc:
                    usage.refused_tool_calls += 1
                    results.append({"type": "tool_result", "tool_use_id": call.id, "content": str(exc),
                                    "is_error": True})
                    if isinstance(exc, MalformedCall):
                        fail(f"malformed {call.name} call: {exc}"[:200])
            if submission is not None:
                return submission, web_urls
            messages.append({"role": "user", "content": results})
        raise ProposalFailed(f"agent did not submit within {self.opts.max_turns} requests", usage)
