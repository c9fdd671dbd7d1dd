"""The built-in agent: one loop for every model API (providers/: anthropic, openai).

For each candidate the agent starts from the best kept surface (keep/discard semantics: a
discarded idea is dropped, but the campaign notebook shows it), reads and writes surface files
through `AgentTools` (every path checked by the gate's own rules), may check its working copy
with the gate and a smoke run, and ends with `submit_candidate`. One conversation per
candidate (so `--resume` needs no agent state), recorded event by event in `agent.jsonl`.

What each outcome of a request means, for every provider alike:

- a tool call in a reply cut off at max_tokens is never run: the model is told, and it costs an
  attempt; a paused turn (`pause_turn`) is sent back to continue; a refusal or a full context
  window ends the proposal;
- an unavailable API (overloaded, rate limited, 5xx, no connection; after the client's own
  retries) is waited out, honouring `retry-after`, and costs nothing: no attempt, no candidate.
  Past `unavailable_wait_s` the campaign stops (resume it later);
- a request the API refuses as invalid (400, 413, 402) on a candidate's opening request, or on
  two candidates in a row, would fail for every candidate: the campaign stops with the API's
  message. Mid-conversation it ends this proposal only;
- a refused key, no access, an unknown model, a request the SDK will not send: the campaign stops;
- a broken reply, a reply without a tool call, a malformed call: an attempt. When a candidate's
  attempts (or turns, or its token cap) run out, `ProposalFailed` makes the campaign log a crash
  row, which costs no candidate of --max-candidates.
- `--max-cost-usd` is checked before every request against the campaign's spend so far: once
  reached, the proposal ends with a row that says so and the campaign stops proposing.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from afr_box.orchestrator.errors import CampaignError, ProposerError
from afr_box.orchestrator.gate.surface import baseline_snapshot, working_copy
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.pipeline.smoke import smoke_budget_text, smoke_run
from afr_box.orchestrator.pipeline.watchdog import plateau_state
from afr_box.orchestrator.proposers import ProposalFailed
from afr_box.orchestrator.proposers.agent.model import (BrokenReply, Misconfigured, ModelError, Refused, Reply, Stop,
                                                        ToolResult, Unavailable)
from afr_box.orchestrator.proposers.agent.notebook import InFlight
from afr_box.orchestrator.proposers.agent.program import render_kickoff, render_program, site_sizes
from afr_box.orchestrator.proposers.agent.providers import DEFAULT_MODELS, PROVIDERS, make_provider
from afr_box.orchestrator.proposers.agent.tools import SUBMIT, TOOL_SPECS, AgentTools, MalformedCall, Submission, \
    ToolRefused
from afr_box.orchestrator.proposers.agent.transcript import Transcript
from afr_box.orchestrator.proposers.agent.usage import AgentUsage, price_table
from afr_box.orchestrator.records.agent_usage import agent_totals
from afr_box.orchestrator.records.layout import candidate_id
from afr_box.orchestrator.records.runlog import Row, best_row
from afr_box.policies.schema import Policy
from afr_box.profiles.schema import Profile

LITERATURE_MODES = ("off", "knowledge", "web")
MAX_SOURCES = 8
WAIT_MAX_S = 60.0                  # longest single wait for an unavailable API
CUT_NOTE = ("Your reply was cut off at the output limit (max_tokens {max_tokens}): the tool call(s) in it were NOT "
            "run. Make smaller steps: write one file per call and keep each file short.")
NUDGE = f"Use the tools; finish by calling {SUBMIT}."


@dataclass(frozen=True)
class AgentOptions:
    model: Optional[str] = None        # None: the provider's default (on --resume: the campaign's)
    max_tokens: int = 8192             # output tokens per request
    max_turns: int = 40                # requests per candidate
    max_attempts: int = 3              # broken replies, cut replies, malformed calls tolerated per candidate
    max_retries: int = 4               # the SDK client's own retries of 429/5xx/529, with backoff
    attempt_backoff_s: float = 2.0     # after a broken reply
    literature: str = "knowledge"      # off: never; knowledge: cite from own knowledge; web: server-side web search
    base_url: Optional[str] = None     # a gateway or an OpenAI-compatible server (vLLM, Ollama)
    thinking: bool = False             # anthropic: adaptive thinking
    max_cost_usd: Optional[float] = None         # the campaign's agent spend cap (list-price estimate)
    max_candidate_tokens: Optional[int] = None   # one candidate's conversation, all tokens
    unavailable_wait_s: float = 1800.0 # how long an unavailable API is waited out before the campaign stops
    max_smoke_runs: int = 2            # per candidate
    max_failed_in_a_row: int = 5       # proposals without a candidate in a row before the campaign stops

    def __post_init__(self):
        if self.literature not in LITERATURE_MODES:
            raise ValueError(f"literature must be one of {', '.join(LITERATURE_MODES)}, got {self.literature!r}")


@dataclass
class LiteratureEvent:
    sources: list[str]
    summary: str
    elapsed_s: float
    extra: dict[str, Any] = field(default_factory=dict)


class AgentProposer:
    def __init__(self, name: str, task: str, policy: Policy, profile: Profile, opts: AgentOptions, provider=None):
        if name not in PROVIDERS:
            raise ProposerError(f"unknown agent proposer {name!r}; agents: {', '.join(PROVIDERS)}")
        self.name = name
        provider_name = PROVIDERS[name]
        self.opts = replace(opts, model=opts.model or DEFAULT_MODELS[provider_name])
        if self.opts.max_cost_usd is not None and price_table().price_of(self.opts.model) is None:
            raise ProposerError(f"--max-cost-usd needs a priced model, and {self.opts.model} has no price in "
                                "orchestrator/proposers/agent/prices.yaml: add one, or drop --max-cost-usd")
        self.task, self.policy, self.profile = task, policy, profile
        self.provider = provider or make_provider(provider_name, self.opts)
        self.literature_pending = False      # set by the campaign when the watchdog fires
        self.literature_event: Optional[LiteratureEvent] = None  # taken by the campaign after propose()
        self.in_flight: tuple[InFlight, ...] = ()  # set by the campaign: candidates running now
        self.smoke: Optional[Callable[[Path, str], str]] = None  # bound by attach()
        self.parallel = 1
        self.data_dir: Optional[Path] = None
        self.max_failed_in_a_row = self.opts.max_failed_in_a_row
        self._spent: Optional[float] = None  # the campaign's agent spend before this proposal
        self._last_refused = False           # the previous proposal ended on a request the API refused
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic

    # -------------------------------------------------------------- the campaign's interface

    def recorded(self) -> dict[str, Any]:
        """campaign.json's `agent`: what `--resume` compares (the model) and the options used."""
        return {"provider": self.provider.name, **asdict(self.opts)}

    def attach(self, setup, parallel: int) -> None:
        """Bind the campaign's pipeline: smoke runs go through its sandbox; the program names the batch size."""
        self.parallel, self.data_dir = parallel, setup.data_dir
        budget = smoke_budget_text(self.profile)
        self.smoke = lambda work, label: smoke_run(setup, work, label, f"smoke run of {label}").describe(budget)

    def wants_literature(self, rows: list[Row]) -> bool:
        return self.opts.literature != "off" and plateau_state(rows, self.profile.plateau_threshold).fired

    def take_literature_event(self) -> Optional[LiteratureEvent]:
        event, self.literature_event = self.literature_event, None
        return event

    def propose(self, index: int, workspace: Path, history: list[Row]) -> Proposal:
        campaign_dir = workspace.parent
        cand = candidate_id(index)
        work = self._reset_working_copy(workspace / "agent", campaign_dir, history)
        # Cleared whatever happens: a failed literature proposal's row resets the watchdog itself.
        literature, self.literature_pending = self.literature_pending, False
        web = literature and self.opts.literature == "web"
        tools = AgentTools(self.task, self.policy, campaign_dir, work, self.profile, require_sources=literature,
                           in_flight=self.in_flight, smoke=self.smoke, smoke_label=cand,
                           max_smoke_runs=self.opts.max_smoke_runs)
        system = render_program("builtin", self.profile, self.policy, web_search=self.opts.literature == "web",
                                parallel=self.parallel, site_sizes=site_sizes(self.data_dir) if self.data_dir else {})
        kickoff = self._kickoff(cand, history, literature, web, campaign_dir)
        transcript = Transcript(workspace / f"agent-{cand}.jsonl")
        transcript.start(provider=self.provider.name, model=self.opts.model, candidate=cand, literature=literature,
                         system=system, tools=[t["name"] for t in TOOL_SPECS] + (["web_search"] if web else []),
                         kickoff=kickoff, max_tokens=self.opts.max_tokens)
        usage = AgentUsage(self.opts.model, self.provider.name)
        start = self._clock()

        def close(outcome: str, **fields) -> None:
            usage.seconds = self._clock() - start
            usage.checks, usage.smoke_runs = tools.checks, tools.smoke_runs
            self._spent = self._spent_before(campaign_dir) + (usage.cost_usd() or 0.0)
            transcript.event("end", outcome=outcome, usage=usage.record(), **fields)

        try:
            conversation = self.provider.conversation(system, TOOL_SPECS, kickoff, web)
            submission, cited = self._converse(campaign_dir, conversation, tools, usage, transcript)
        except ProposalFailed as exc:
            close("failed", reason=str(exc))
            exc.transcript, exc.literature = transcript.path, literature
            self._last_refused = getattr(exc, "refused", False)
            raise
        except CampaignError as exc:
            close("stopped", reason=str(exc))
            raise
        self._last_refused = False
        close("submitted", description=submission.description)
        snap = workspace / f"proposal-{index:04d}"
        shutil.rmtree(snap, ignore_errors=True)
        shutil.copytree(work, snap)
        sources = (submission.sources + [u for u in cited if u not in submission.sources])[:MAX_SOURCES]
        if literature:
            self.literature_event = LiteratureEvent(sources, submission.description, usage.seconds, {
                "before_candidate": cand, "usage_recorded_in": f"candidates/{cand}/proposal.json"})
        description = f"{self.name}: {submission.description}" + (f" [src: {'; '.join(sources)}]" if sources else "")
        return Proposal(snapshot=snap, description=description, proposer=self.name, sources=sources,
                        agent=usage.record(), transcript=transcript.path)

    # -------------------------------------------------------------- internals

    def _spent_before(self, campaign_dir: Path) -> float:
        if self._spent is None:  # a resumed campaign: what its logged proposals cost
            totals = agent_totals(campaign_dir)
            self._spent = totals.cost_usd if totals else 0.0
        return self._spent

    def _reset_working_copy(self, work: Path, campaign_dir: Path, history: list[Row]) -> Path:
        """The best kept surface (the baseline's when nothing beat it): discarded ideas are dropped."""
        best = best_row(history, self.profile.metric.higher_is_better)
        kept = campaign_dir / best.artifacts / "surface" if best is not None else None
        if kept is not None and kept.is_dir():
            return working_copy(kept, work)  # the recorded snapshot is read-only
        return baseline_snapshot(self.task, self.policy, work)

    def _kickoff(self, cand: str, history: list[Row], literature: bool, web: bool, campaign_dir: Path) -> str:
        best = best_row(history, self.profile.metric.higher_is_better)
        recent = [f"{r.candidate} {r.status} {'' if r.score is None else f'{r.score:.4f}'} {r.description} "
                  f"{r.reason}"[:300] for r in history[-8:]]
        cap = self.opts.max_cost_usd
        cost_note = (f"Agent spend so far: ~${self._spent_before(campaign_dir):.4f} of --max-cost-usd {cap}."
                     if cap is not None else "")
        return render_kickoff(candidate=cand, best=best if best is not None and best.score is not None else None,
                              metric=self.profile.metric.name, recent=recent, in_flight=list(self.in_flight),
                              plateau_note=plateau_state(history, self.profile.plateau_threshold).describe(),
                              cost_note=cost_note, literature=literature, web_search=web)

    def _check_caps(self, usage: AgentUsage, campaign_dir: Path) -> None:
        cap = self.opts.max_cost_usd
        if cap is not None:
            spent = self._spent_before(campaign_dir) + (usage.cost_usd() or 0.0)
            if spent >= cap:
                raise ProposalFailed(f"--max-cost-usd {cap} reached: the agent has spent ~${spent:.4f} in this "
                                     "campaign; the campaign stops proposing", usage, ends_campaign=True)
        tokens = self.opts.max_candidate_tokens
        if tokens is not None and usage.total_tokens >= tokens:
            raise ProposalFailed(f"this candidate's conversation used {usage.total_tokens} tokens, over "
                                 f"--max-candidate-tokens {tokens}", usage)

    def _misconfigured(self, exc: ModelError) -> str:
        api, env = self.provider.name, self.provider.env_hint
        if exc.status == 401:
            return f"the {api} API refused the key in {env} (401): check it, or use --proposer hpo ({exc.describe()})"
        if exc.status == 403:
            return f"the {api} API denied access (403) for this key: check its permissions, or use --proposer hpo " \
                   f"({exc.describe()})"
        return f"the campaign cannot go on: the {api} API said {exc.describe()}"[:900]

    def _stop(self, what: str, exc: ModelError) -> CampaignError:
        return CampaignError(f"{what}: the {self.provider.name} API said {exc.describe()}"[:900])

    def _converse(self, campaign_dir: Path, conversation, tools: AgentTools, usage: AgentUsage,
                  transcript: Transcript) -> tuple[Submission, list[str]]:
        failures: list[str] = []
        cited: list[str] = []
        turns, opening, unavailable = 0, True, []  # unavailable: clock times of the current outage's errors

        def fail(why: str) -> None:
            usage.failed_attempts += 1
            failures.append(why)
            if usage.failed_attempts >= self.opts.max_attempts:
                raise ProposalFailed(f"agent gave no candidate after {usage.failed_attempts} failed attempts: "
                                     f"{'; '.join(failures)}"[:600], usage)

        while True:
            self._check_caps(usage, campaign_dir)
            if turns >= self.opts.max_turns:
                raise ProposalFailed(f"agent did not submit within {self.opts.max_turns} requests", usage)
            turns += 1
            transcript.event("request", n=turns)
            sent = self._clock()
            try:
                reply = conversation.send()
            except Unavailable as exc:
                turns -= 1  # costs nothing: the API will come back
                unavailable.append(self._clock())
                if unavailable[-1] - unavailable[0] >= self.opts.unavailable_wait_s:
                    transcript.event("error", n=turns + 1, **_error_fields(exc), action="stop the campaign")
                    raise self._stop(f"the model API has been unavailable for {unavailable[-1] - unavailable[0]:.0f} s "
                                     "(nothing is lost: continue later with --resume)", exc) from None
                wait = min(WAIT_MAX_S, max(exc.retry_after or 0.0, 2.0 * 2 ** (len(unavailable) - 1)))
                transcript.event("error", n=turns + 1, **_error_fields(exc), action="wait and retry")
                transcript.event("wait", seconds=round(wait, 3), why="the API is unavailable")
                usage.waited_s += wait
                self._sleep(wait)
                continue
            except Refused as exc:
                transcript.event("error", n=turns, **_error_fields(exc), action="refused")
                if opening:
                    raise self._stop("the API refused the opening request of this candidate, so every candidate "
                                     "would fail alike; fix what it names and continue with --resume", exc) from None
                if self._last_refused:
                    raise self._stop("the API refused requests of two candidates in a row; fix what it names and "
                                     "continue with --resume", exc) from None
                failed = ProposalFailed(f"the API refused a request: {exc.describe()}"[:600], usage)
                failed.refused = True
                raise failed from None
            except Misconfigured as exc:
                transcript.event("error", n=turns, **_error_fields(exc), action="stop the campaign")
                raise CampaignError(self._misconfigured(exc)) from None
            except BrokenReply as exc:
                transcript.event("error", n=turns, **_error_fields(exc), action="an attempt")
                fail(f"broken reply: {exc}"[:200])
                self._sleep(self.opts.attempt_backoff_s * usage.failed_attempts)
                continue
            unavailable.clear()
            opening = False
            usage.add(reply.tokens)
            transcript.event("response", n=turns, request_id=reply.request_id, stop_reason=reply.raw_stop,
                             blocks=reply.blocks, usage=asdict(reply.tokens), seconds=round(self._clock() - sent, 3))
            cited += [u for u in reply.cited if u not in cited]
            submission = self._handle(reply, conversation, tools, usage, transcript, fail)
            if submission is not None:
                return submission, cited

    def _handle(self, reply: Reply, conversation, tools: AgentTools, usage: AgentUsage, transcript: Transcript,
                fail: Callable[[str], None]) -> Optional[Submission]:
        """What one reply means: tool calls run, a cut reply refused, a pause continued, a nudge."""
        if reply.stop == Stop.PAUSE:
            conversation.add_reply(reply)
            return None
        if reply.stop == Stop.REFUSAL:
            raise ProposalFailed(f"the model refused ({reply.detail or reply.raw_stop})"[:600], usage)
        if reply.stop == Stop.CONTEXT_FULL:
            raise ProposalFailed("the conversation filled the model's context window", usage)
        if reply.stop == Stop.MAX_TOKENS:
            note = CUT_NOTE.format(max_tokens=self.opts.max_tokens)
            conversation.add_reply(reply)
            results = [ToolResult(c.id, c.name, "not run: the reply was cut off before this call was complete",
                                  True) for c in reply.calls]
            for r in results:
                transcript.event("tool_result", id=r.call_id, name=r.name, text=r.text, is_error=True)
            if results:
                conversation.add_results(results, note)
            else:
                conversation.add_note(note)
            transcript.event("note", text=note)
            fail(f"reply cut off at max_tokens ({self.opts.max_tokens}) with {len(results)} tool call(s) not run")
            return None
        if not reply.calls:
            if reply.native:
                conversation.add_reply(reply)
                conversation.add_note(NUDGE)
                transcript.event("note", text=NUDGE)
            fail(f"reply with no tool call (stop_reason {reply.raw_stop or 'none'})")
            return None
        results, submission = [], None
        for call in reply.calls:
            usage.tool_calls += 1
            try:
                if call.problem:
                    raise MalformedCall(f"malformed call: {call.problem}")
                if call.name == SUBMIT:
                    submission = tools.submission(call.input)
                    text = "submitted"
                else:
                    text = tools.call(call.name, call.input)
                result = ToolResult(call.id, call.name, text)
            except ToolRefused as exc:
                usage.refused_tool_calls += 1
                result = ToolResult(call.id, call.name, str(exc), True)
                if isinstance(exc, MalformedCall):
                    transcript.event("tool_result", id=call.id, name=call.name, text=str(exc), is_error=True)
                    fail(f"malformed {call.name} call: {exc}"[:200])
                    results.append(result)
                    continue
            transcript.event("tool_result", id=result.call_id, name=result.name, text=result.text,
                             is_error=result.is_error)
            results.append(result)
        if submission is not None:
            return submission
        conversation.add_reply(reply)
        conversation.add_results(results)
        return None


def _error_fields(exc: ModelError) -> dict[str, Any]:
    return {"status": exc.status, "kind": exc.kind or type(exc).__name__, "message": str(exc)[:500],
            "request_id": exc.request_id, "retry_after": exc.retry_after}
