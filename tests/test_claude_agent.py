"""The built-in agent with --proposer claude against a local Messages API server (the real `anthropic`
client, real tools, the real gate): stop reasons, error kinds, caching, caps, transcripts."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.errors import CampaignError, ProposerError
from afr_box.orchestrator.proposers import ProposalFailed
from afr_box.orchestrator.proposers.agent import loop as agent_loop
from afr_box.orchestrator.proposers.agent.loop import AgentOptions, AgentProposer
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile
from afr_box.tasks.shared.layout import repo_file
from fake_anthropic import (FakeAnthropic, error, kickoff, raw, reply, result_text, server_tool_use, text, thinking,
                            tool_results, tool_use, web_search_error, web_search_result)
from task_campaign import bare_campaign_dir

FAST = AgentOptions(max_retries=0, attempt_backoff_s=0.0)
KNOBS = repo_file("synthetic/knobs.yaml").read_text()


class FakeTime:
    """A clock that moves only when the loop sleeps (so a 5-minute outage takes no real time)."""

    def __init__(self):
        self.now, self.waits = 1000.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def campaign_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-local")
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    return bare_campaign_dir(tmp_path)


def proposer(opts: AgentOptions = FAST, clock: FakeTime | None = None) -> AgentProposer:
    agent = AgentProposer("claude", "synthetic", load_policy("architecture-open"), load_profile("synthetic"), opts)
    if clock is not None:
        agent._clock, agent._sleep = clock.monotonic, clock.sleep
    return agent


def run_agent(monkeypatch, campaign_dir, script, opts: AgentOptions = FAST, clock=None, exhaust=True):
    with FakeAnthropic(script) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        try:
            return proposer(opts, clock).propose(1, campaign_dir / "workspace", []), api
        finally:
            assert api.exhausted or not exhaust, f"{len(api.script)} scripted turns left unused"


def submit(description="knobs: lr 0.1", **kw):
    return reply(tool_use("submit_candidate", description=description, **kw))


def events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_agent_reads_writes_and_submits_with_usage_and_transcript_recorded(monkeypatch, campaign_dir):
    seen = {}

    def write_after_reading(request):
        seen["client"] = result_text(tool_results(request)[0])
        return reply(tool_use("write_file", path="synthetic/knobs.yaml", content=KNOBS.replace("lr: 0.05", "lr: 0.1")),
                     cache_read=900, cache_write=300)

    proposal, api = run_agent(monkeypatch, campaign_dir, [
        reply(text("Reading the client first."), tool_use("read_file", path="synthetic/client.py")),
        write_after_reading,
        submit("knobs: lr 0.05 -> 0.1"),
    ])
    assert "while flare.is_running()" in seen["client"]
    assert "lr: 0.1" in (proposal.snapshot / "synthetic/knobs.yaml").read_text()
    assert proposal.description == "claude: knobs: lr 0.05 -> 0.1"
    agent = proposal.agent
    assert agent["input_tokens"] == 3 * 1200 and agent["output_tokens"] == 3 * 150
    assert agent["cache_read_input_tokens"] == 900 and agent["cache_creation_input_tokens"] == 300
    # sonnet list prices: $3 in, $15 out, $0.30 cache read, $3.75 cache write per million tokens
    assert agent["cost_usd_estimate"] == pytest.approx((3600 * 3 + 450 * 15 + 900 * 0.3 + 300 * 3.75) / 1e6)
    assert agent["tool_calls"] == 3 and agent["provider"] == "anthropic"
    first = api.requests[0]
    headers = first["_headers"]
    assert "sk-test-local" in headers.get("x-api-key", "") + headers.get("authorization", "")
    assert "Mutation surface" in first["system"][0]["text"] and "synthetic/client.py" in first["system"][0]["text"]
    assert {t["name"] for t in first["tools"]} >= {"read_file", "write_file", "submit_candidate", "check_candidate",
                                                    "smoke_run", "read_notebook"}
    log = events(proposal.transcript)
    assert [e["event"] for e in log][:3] == ["start", "request", "response"] and log[-1]["event"] == "end"
    assert log[-1]["outcome"] == "submitted" and log[-1]["usage"]["tool_calls"] == 3
    responses = [e for e in log if e["event"] == "response"]
    assert all(e["request_id"].startswith("req_fake") for e in responses)
    assert responses[0]["blocks"][0] == {"type": "text", "text": "Reading the client first."}
    assert responses[1]["blocks"][0]["input"]["path"] == "synthetic/knobs.yaml"
    results = [e for e in log if e["event"] == "tool_result"]
    assert "while flare.is_running()" in results[0]["text"] and results[1]["text"].startswith("wrote synthetic/knobs")


def test_requests_carry_a_stable_cached_prefix_and_the_changing_note_last(monkeypatch, campaign_dir):
    """Tools, then the program (the same for every candidate), each with a cache breakpoint, and one
    on the conversation's last block; the plateau note and literature mode are in the first message."""
    cite = ["Li et al. 2020, FedProx"]
    with FakeAnthropic([reply(tool_use("list_files")), submit(), submit(), submit(sources=cite)]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        agent = proposer()
        agent.propose(1, campaign_dir / "workspace", [])
        agent.propose(2, campaign_dir / "workspace", [])
        agent.literature_pending = True
        agent.propose(3, campaign_dir / "workspace", [])
    first, second, other, literature = api.requests
    for request in api.requests:
        own_tools = [t for t in request["tools"] if t["name"] != "web_search"]
        assert own_tools[-1]["cache_control"] == {"type": "ephemeral"}
        assert request["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert request["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        assert json.dumps(request).count('"cache_control"') == 3  # the API allows 4; older turns carry none
    assert first["system"] == other["system"] == literature["system"] and first["tools"] == other["tools"]
    assert "Plateau watchdog: 0 scored candidate(s)" in kickoff(first)
    assert "Plateau watchdog:" not in first["system"][0]["text"]
    assert "LITERATURE MODE IS ON" in kickoff(literature)
    assert "LITERATURE MODE IS ON" not in literature["system"][0]["text"]
    assert "candidate 0002" in kickoff(other) and "candidate 0002" not in other["system"][0]["text"]


def test_writes_outside_the_surface_are_refused_with_a_reason(monkeypatch, campaign_dir):
    answers = []

    def collect(request):
        answers.extend(tool_results(request))
        return submit("nothing outside the surface")

    proposal, _ = run_agent(monkeypatch, campaign_dir, [
        reply(tool_use("write_file", path="../../sandbox/scorer.py", content="SCORE = 1.0\n"),
              tool_use("write_file", path="synthetic/bridge.py", content="# tampered\n"),
              tool_use("write_file", path="/etc/passwd", content="x"),
              tool_use("read_file", path="../../../etc/hostname")),
        collect,
    ])
    assert len(answers) == 4 and all(a.get("is_error") for a in answers)
    texts = [result_text(a) for a in answers]
    assert "'..'" in texts[0] and "refused" in texts[0]
    assert "synthetic/bridge.py is outside the mutation surface" in texts[1]
    assert "absolute path" in texts[2] and "refused" in texts[3]
    written = sorted(p.relative_to(proposal.snapshot).as_posix() for p in proposal.snapshot.rglob("*") if p.is_file())
    assert "synthetic/bridge.py" not in written and not any(".." in w for w in written)
    assert not (campaign_dir.parent / "sandbox").exists() and not (campaign_dir / "sandbox").exists()
    assert proposal.agent["refused_tool_calls"] == 4 and proposal.agent["failed_attempts"] == 0


def test_a_tool_call_cut_off_at_max_tokens_is_not_run_and_the_model_is_told(monkeypatch, campaign_dir):
    """The probe of the issue: a write_file whose content was cut off mid-argument must not be written."""
    truncated = KNOBS.replace("lr: 0.05", "lr: 0.1")[:40]
    answers = []

    def after_cut(request):
        answers.extend(tool_results(request))
        answers.append(request["messages"][-1]["content"][-1])
        return reply(tool_use("write_file", path="synthetic/knobs.yaml", content=KNOBS.replace("lr: 0.05", "lr: 0.2")),
                     tool_use("submit_candidate", description="knobs: lr 0.2"))

    proposal, api = run_agent(monkeypatch, campaign_dir, [
        reply(thinking("I will rewrite the knobs."), tool_use("write_file", path="synthetic/knobs.yaml",
                                                              content=truncated), stop_reason="max_tokens"),
        after_cut,
    ])
    written = (proposal.snapshot / "synthetic/knobs.yaml").read_text()
    assert written == KNOBS.replace("lr: 0.05", "lr: 0.2"), "the cut-off content must never reach the snapshot"
    cut_result, note = answers
    assert cut_result["is_error"] and "not run" in result_text(cut_result)
    assert note["type"] == "text" and "cut off at the output limit (max_tokens 8192)" in note["text"]
    sent_back = api.requests[1]["messages"][1]["content"]
    assert [b["type"] for b in sent_back] == ["thinking", "tool_use"] and sent_back[0]["signature"].startswith("sig-")
    assert proposal.agent["failed_attempts"] == 1
    log = events(proposal.transcript)
    assert any(e["event"] == "response" and e["stop_reason"] == "max_tokens" for e in log)
    assert any(e["event"] == "note" and "NOT run" in e["text"] for e in log)


def test_thinking_blocks_between_tool_calls_and_paused_turns_go_back_as_sent(monkeypatch, campaign_dir):
    paused = [server_tool_use("fedprox", "srvtoolu_p1")]
    proposal, api = run_agent(monkeypatch, campaign_dir, [
        reply(thinking("first"), tool_use("list_files"), thinking("between"), tool_use("read_file",
                                                                                        path="synthetic/knobs.yaml")),
        reply(*paused, stop_reason="pause_turn"),
        reply(text("continuing"), tool_use("submit_candidate", description="no change")),
    ], AgentOptions(max_retries=0, attempt_backoff_s=0.0, thinking=True))
    second, third = api.requests[1], api.requests[2]
    assert second["thinking"] == {"type": "adaptive"}
    kinds = [b["type"] for b in second["messages"][1]["content"]]
    assert kinds == ["thinking", "tool_use", "thinking", "tool_use"]
    assert second["messages"][1]["content"][2]["thinking"] == "between"
    assert third["messages"][-1] == {"role": "assistant", "content": paused}  # the paused turn, to continue
    assert third["messages"][-2]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert proposal.agent["failed_attempts"] == 0 and proposal.agent["requests"] == 3
    blocks = [b for e in events(proposal.transcript) if e["event"] == "response" for b in e["blocks"]]
    assert {"type": "thinking", "text": "between"} in blocks


def test_an_outage_is_waited_out_without_costing_an_attempt(monkeypatch, campaign_dir):
    """Five minutes of 529s (past the client's own retries): waited out, honouring retry-after."""
    clock = FakeTime()

    def storm(request):
        return error(529, "Overloaded", retry_after=17) if clock.now < 1000 + 300 else submit("after the storm")

    proposal, api = run_agent(monkeypatch, campaign_dir, [storm] * 20, clock=clock, exhaust=False)
    assert proposal.description == "claude: after the storm"
    assert sum(clock.waits) >= 300 and min(clock.waits) >= 17  # the API's retry-after, at least
    assert proposal.agent["failed_attempts"] == 0 and proposal.agent["waited_s"] >= 300
    log = events(proposal.transcript)
    assert sum(e["event"] == "wait" for e in log) == len(clock.waits)
    errors = [e for e in log if e["event"] == "error"]
    assert errors[0]["status"] == 529 and errors[0]["kind"] == "overloaded_error" and errors[0]["retry_after"] == 17
    assert errors[0]["request_id"].startswith("req_fake")


def test_an_outage_longer_than_the_wait_stops_the_campaign_saying_resume(monkeypatch, campaign_dir):
    clock = FakeTime()
    opts = AgentOptions(max_retries=0, attempt_backoff_s=0.0, unavailable_wait_s=120)
    with pytest.raises(CampaignError, match=r"unavailable for \d+ s .*--resume.*529 overloaded_error"):
        run_agent(monkeypatch, campaign_dir, [error(529, "Overloaded", retry_after=30)] * 9, opts, clock, exhaust=False)


def test_the_client_retries_overloaded_and_server_errors_itself(monkeypatch, campaign_dir):
    opts = AgentOptions(max_retries=4, attempt_backoff_s=0.0)
    proposal, api = run_agent(monkeypatch, campaign_dir, [error(529), error(500), error(429), submit()], opts)
    assert len(api.requests) == 4
    assert proposal.agent["requests"] == 1 and proposal.agent["failed_attempts"] == 0


def test_a_refused_opening_request_stops_the_campaign_with_the_apis_message(monkeypatch, campaign_dir):
    message = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing."
    with pytest.raises(CampaignError, match="opening request.*every candidate.*credit balance is too low") as info:
        run_agent(monkeypatch, campaign_dir, [error(400, message)])
    assert "(request req_fake" in str(info.value) and "\n" not in str(info.value)
    log = events(campaign_dir / "workspace" / "agent-0001.jsonl")  # the transcript stays for the reader
    assert log[-1]["event"] == "end" and log[-1]["outcome"] == "stopped"


def test_a_refused_request_mid_conversation_ends_this_proposal_and_twice_in_a_row_the_campaign(monkeypatch,
                                                                                                campaign_dir):
    too_long = "prompt is too long: 215000 tokens > 200000 maximum"
    with FakeAnthropic([reply(tool_use("list_files")), error(413, too_long),
                        reply(tool_use("list_files")), error(400, too_long)]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        agent = proposer()
        with pytest.raises(ProposalFailed, match="refused a request: 413 request_too_large: prompt is too long"):
            agent.propose(1, campaign_dir / "workspace", [])
        with pytest.raises(CampaignError, match="two candidates in a row"):
            agent.propose(2, campaign_dir / "workspace", [])


def test_configuration_errors_stop_the_campaign_with_a_clear_line(monkeypatch, campaign_dir):
    with pytest.raises(CampaignError, match="refused the key in ANTHROPIC_API_KEY"):
        run_agent(monkeypatch, campaign_dir, [error(401)])
    with pytest.raises(CampaignError, match="no such model.*check --model"):
        run_agent(monkeypatch, campaign_dir, [error(404, "model: claude-nope")])
    # the SDK's own "streaming is required" refusal (before any request) is a configuration error too
    opts = AgentOptions(model="claude-opus-4-0", max_tokens=16000, max_retries=0)
    with pytest.raises(CampaignError, match="--max-tokens 16000 to claude-opus-4-0 without streaming"):
        run_agent(monkeypatch, campaign_dir, [], opts)


def test_malformed_tool_calls_and_broken_replies_cost_one_attempt_each(monkeypatch, campaign_dir):
    answers = []

    def collect(request):
        answers.extend(tool_results(request))
        return submit()

    proposal, _ = run_agent(monkeypatch, campaign_dir, [
        raw(200, b"this is not json"),
        raw(200, b'{"type": "message"}'),  # no content, no usage
        reply(text("I am done.")),  # no tool call
        reply(tool_use("write_file", path=7, content=None), tool_use("no_such_tool")),
        collect,
    ], AgentOptions(max_attempts=6, attempt_backoff_s=0.0, max_retries=0))
    assert [a.get("is_error") for a in answers] == [True, True]
    assert "must be a string" in result_text(answers[0]) and "unknown tool" in result_text(answers[1])
    assert proposal.agent["failed_attempts"] == 5


def test_an_agent_that_never_submits_fails_this_candidate_only_with_its_transcript(monkeypatch, campaign_dir):
    with pytest.raises(ProposalFailed, match="3 failed attempts") as info:
        run_agent(monkeypatch, campaign_dir, [reply(text("hmm")), reply(), reply(text("still thinking"))])
    assert info.value.usage.requests == 3 and not info.value.ends_campaign
    log = events(info.value.transcript)
    assert log[-1]["outcome"] == "failed" and "3 failed attempts" in log[-1]["reason"]


def test_a_candidate_over_its_token_cap_fails_and_the_campaign_cost_cap_ends_proposing(monkeypatch, campaign_dir):
    opts = AgentOptions(max_retries=0, attempt_backoff_s=0.0, max_candidate_tokens=5000)
    with pytest.raises(ProposalFailed, match="used 5400 tokens, over --max-candidate-tokens 5000"):
        run_agent(monkeypatch, campaign_dir, [reply(tool_use("list_files"), input_tokens=5000, output_tokens=400)], opts)
    opts = AgentOptions(max_retries=0, attempt_backoff_s=0.0, max_cost_usd=0.05)
    with FakeAnthropic([reply(tool_use("submit_candidate", description="costly"), output_tokens=4000)]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        agent = proposer(opts)
        agent.propose(1, campaign_dir / "workspace", [])  # one reply, ~$0.064: the cap is passed once it is paid
        with pytest.raises(ProposalFailed, match=r"--max-cost-usd 0.05 reached: .*~\$0\.0636") as info:
            agent.propose(2, campaign_dir / "workspace", [])
    assert info.value.ends_campaign and info.value.usage.requests == 0 and len(api.requests) == 1
    assert "spend so far: ~$0.0000 of --max-cost-usd 0.05" in kickoff(api.requests[0])


def test_missing_api_key_is_a_clear_error_suggesting_hpo(monkeypatch, data_root, tmp_path):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["campaign", "synthetic", "--proposer", "claude", "--data-root",
                                       str(data_root), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "ANTHROPIC_API_KEY" in result.output and "--proposer hpo" in result.output
    assert not (tmp_path / "runs").exists()  # nothing left behind


def test_a_bearer_token_and_a_base_url_reach_a_gateway(monkeypatch, campaign_dir):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "gateway-token")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # --base-url wins over it
    with FakeAnthropic([submit()]) as api:
        agent = proposer(AgentOptions(base_url=api.base_url, max_retries=0))
        agent.propose(1, campaign_dir / "workspace", [])
    headers = api.requests[0]["_headers"]
    assert headers["authorization"] == "Bearer gateway-token"


def test_an_unpriced_model_says_so_and_cannot_take_a_cost_cap(monkeypatch, campaign_dir):
    proposal, _ = run_agent(monkeypatch, campaign_dir, [submit()], AgentOptions(model="claude-next-9", max_retries=0))
    assert proposal.agent["cost_usd_estimate"] is None and "unpriced model claude-next-9" in proposal.agent["price_basis"]
    with pytest.raises(ProposerError, match="needs a priced model.*claude-next-9"):
        proposer(AgentOptions(model="claude-next-9", max_cost_usd=1.0))


def test_literature_mode_requires_sources_and_takes_the_cited_urls(monkeypatch, campaign_dir):
    """Sources are the submitted ones plus the URLs the model cited, not the search results it skimmed."""
    cited, skimmed = "https://arxiv.org/abs/2003.00295", "https://example.org/unrelated"
    answers = []

    def cite(request):
        answers.extend(tool_results(request))
        return reply(text("FedAdam adapts the server step.", cite=[cited]),
                     tool_use("submit_candidate", description="knobs: FedAdam", sources=["Reddi et al. 2021"]))

    with FakeAnthropic([
        reply(server_tool_use("adaptive federated optimization", "srvtoolu_1"),
              web_search_result("srvtoolu_1", skimmed, cited), tool_use("submit_candidate", description="no source"),
              web_searches=1),
        cite,
    ]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        agent = proposer(AgentOptions(literature="web", attempt_backoff_s=0.0, max_retries=0))
        agent.literature_pending = True
        proposal = agent.propose(3, campaign_dir / "workspace", [])
    assert "cite at least one source" in result_text(answers[0])
    assert any(t.get("type") == "web_search_20250305" for t in api.requests[0]["tools"])
    assert "LITERATURE MODE IS ON" in kickoff(api.requests[0])
    assert proposal.sources == ["Reddi et al. 2021", cited] and skimmed not in proposal.description
    sent_back = api.requests[1]["messages"][1]["content"]
    assert [b["type"] for b in sent_back] == ["server_tool_use", "web_search_tool_result", "tool_use"]
    event = agent.take_literature_event()
    assert event.sources == proposal.sources and not agent.literature_pending
    assert event.extra == {"before_candidate": "0003", "usage_recorded_in": "candidates/0003/proposal.json"}
    assert proposal.agent["web_search_requests"] == 1
    assert proposal.agent["cost_usd_estimate"] > 0.01  # $10 per 1000 searches on top of the tokens


def test_a_web_search_error_is_shown_and_a_failed_literature_proposal_clears_the_mode(monkeypatch, campaign_dir):
    errored = reply(server_tool_use("fedprox", "srvtoolu_e"), web_search_error("srvtoolu_e", "too_many_requests"),
                    text("The search failed."), web_searches=1)
    with FakeAnthropic([errored, reply(text("no tool")), reply(text("still none"))]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        agent = proposer(AgentOptions(literature="web", attempt_backoff_s=0.0, max_retries=0))
        agent.literature_pending = True
        with pytest.raises(ProposalFailed) as info:
            agent.propose(3, campaign_dir / "workspace", [])
    assert info.value.literature and not agent.literature_pending
    blocks = [b for e in events(info.value.transcript) if e["event"] == "response" for b in e["blocks"]]
    assert {"type": "search_results", "error": "too_many_requests"} in blocks


def test_check_candidate_gives_the_gates_verdict_per_check_and_costs_nothing(monkeypatch, campaign_dir):
    answers = []
    broken = repo_file("synthetic/client.py").read_text().replace("while flare.is_running():", "for _ in range(3):")

    def collect(request):
        answers.extend(tool_results(request))
        return reply(tool_use("write_file", path="synthetic/client.py", content=broken), tool_use("check_candidate"))

    def collect_again(request):
        answers.extend(tool_results(request))
        return submit()

    proposal, _ = run_agent(monkeypatch, campaign_dir, [reply(tool_use("check_candidate")), collect, collect_again])
    good, _, bad = (result_text(a) for a in answers)
    assert good.startswith("the gate would accept") and "PASS contract" in good and "PASS knobs" in good
    assert bad.startswith("the gate would REJECT it: contract") and "FAIL contract" in bad
    assert proposal.agent["checks"] == 2


def test_the_notebook_shows_discarded_candidates_diffs_and_candidates_in_flight(monkeypatch, campaign_dir, tmp_path):
    from afr_box.orchestrator.gate.surface import baseline_snapshot, surface_diff
    from afr_box.orchestrator.proposers.agent.notebook import InFlight

    policy = load_policy("architecture-open")
    for cand, lr in (("0000", None), ("0001", "0.3")):
        snap = baseline_snapshot("synthetic", policy, campaign_dir / "candidates" / cand / "surface")
        if lr:
            (snap / "synthetic/knobs.yaml").write_text(KNOBS.replace("lr: 0.05", f"lr: {lr}"))
            (campaign_dir / "candidates" / cand / "surface.diff").write_text(surface_diff(snap))
    running = baseline_snapshot("synthetic", policy, tmp_path / "running")
    (running / "synthetic/client.py").write_text(repo_file("synthetic/client.py").read_text() + "# running edit\n")
    log = RunLog(campaign_dir / "results.tsv")
    for cand, status, score, desc in (("0000", "keep", 0.61, "baseline"), ("0001", "discard", 0.55, "claude: lr 0.3")):
        log.append(Row(commit="", score=score, runtime_seconds=1, budget="b", status=status, target="synthetic",
                       description=desc, artifacts=f"candidates/{cand}", candidate=cand, image_id="", surface_hash="",
                       policy="architecture-open", seed=42, proposer="baseline" if cand == "0000" else "claude"))
    answers = []

    def collect(request):
        answers.extend(tool_results(request))
        return submit()

    with FakeAnthropic([reply(tool_use("read_notebook")), collect]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        agent = proposer()
        agent.in_flight = (InFlight("0002", "claude: client tweak", running),)
        agent.propose(3, campaign_dir / "workspace", log.rows())
    notebook = result_text(answers[0])
    assert "0001 discard 0.55: claude: lr 0.3" in notebook and "lr 0.05 -> 0.3" in notebook
    assert "[mechanism: knobs]" in notebook and "| +lr: 0.3" in notebook
    assert "0002 RUNNING now (no score yet): claude: client tweak" in notebook
    assert "[mechanism: client code]" in notebook and "+# running edit" in notebook
    assert "Running now, not scored yet" in kickoff(api.requests[0]) and "0002 claude: client tweak" in kickoff(
        api.requests[0])


def test_the_loop_module_is_provider_neutral():
    """The shared loop never imports an SDK: the providers differ only in how they call the model."""
    source = open(agent_loop.__file__).read()
    assert "import anthropic" not in source and "import openai" not in source
