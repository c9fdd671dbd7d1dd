"""The built-in agent with --proposer openai against a local OpenAI-compatible Chat Completions server
(the real `openai` client): the same loop, tools, caps and transcripts as with Claude."""
from __future__ import annotations

import json

import pytest

from afr_box.orchestrator.errors import CampaignError, ProposerError
from afr_box.orchestrator.proposers import ProposalFailed
from afr_box.orchestrator.proposers.agent.loop import AgentOptions, AgentProposer
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile
from afr_box.tasks.shared.layout import repo_file
from fake_openai import FakeOpenAI, call, call_raw, completion, error, raw, tool_messages
from task_campaign import bare_campaign_dir

KNOBS = repo_file("synthetic/knobs.yaml").read_text()


@pytest.fixture
def campaign_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-local")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return bare_campaign_dir(tmp_path)


def agent_for(api: FakeOpenAI, **options) -> AgentProposer:
    opts = AgentOptions(base_url=api.v1, max_retries=0, attempt_backoff_s=0.0, **options)
    return AgentProposer("openai", "synthetic", load_policy("architecture-open"), load_profile("synthetic"), opts)


def test_openai_agent_reads_writes_and_submits_through_function_tools(campaign_dir):
    seen = {}

    def write_after_reading(request):
        seen["knobs"] = tool_messages(request)[0]["content"]
        return completion(call("write_file", path="synthetic/knobs.yaml",
                               content=seen["knobs"].replace("lr: 0.05", "lr: 0.08")), cached_tokens=1024)

    with FakeOpenAI([completion(call("read_file", path="synthetic/knobs.yaml"), content="Reading the knobs."),
                     write_after_reading, completion(call("submit_candidate", description="knobs: lr 0.08"))]) as api:
        proposal = agent_for(api, model="gpt-4.1").propose(1, campaign_dir / "workspace", [])
    assert proposal.description == "openai: knobs: lr 0.08" and proposal.proposer == "openai"
    assert "lr: 0.08" in (proposal.snapshot / "synthetic/knobs.yaml").read_text()
    first = api.requests[0]
    assert first["_headers"]["authorization"] == "Bearer sk-openai-local"
    assert first["model"] == "gpt-4.1" and first["max_tokens"] == 8192  # a custom endpoint gets max_tokens
    assert first["messages"][0]["role"] == "system" and "Mutation surface" in first["messages"][0]["content"]
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"read_file", "write_file", "submit_candidate", "check_candidate", "smoke_run"} <= names
    assert all(t["type"] == "function" and "parameters" in t["function"] for t in first["tools"])
    sent_back = api.requests[1]["messages"][2]
    assert sent_back["role"] == "assistant" and sent_back["tool_calls"][0]["function"]["name"] == "read_file"
    agent = proposal.agent
    # prompt_tokens include the cached ones: 3 x 1500 prompt, 1024 of them read from the cache
    assert agent["input_tokens"] == 4500 - 1024 and agent["cache_read_input_tokens"] == 1024
    assert agent["output_tokens"] == 360 and agent["provider"] == "openai"
    assert agent["cost_usd_estimate"] == pytest.approx((3476 * 2.0 + 1024 * 0.5 + 360 * 8.0) / 1e6)
    log = [json.loads(line) for line in proposal.transcript.read_text().splitlines()]
    assert log[0]["provider"] == "openai" and log[-1]["outcome"] == "submitted"
    assert all(e["request_id"].startswith("req_fake") for e in log if e["event"] == "response")


def test_a_tool_call_cut_off_at_the_length_limit_is_not_run(campaign_dir):
    cut = call_raw("write_file", '{"path": "synthetic/knobs.yaml", "content": "model: logreg\\noptim')
    seen = {}

    def after_cut(request):
        seen["tool"] = [m for m in request["messages"] if m["role"] == "tool"][0]
        seen["note"] = request["messages"][-1]
        return completion(call("submit_candidate", description="unchanged"))

    with FakeOpenAI([completion(cut, finish_reason="length"), after_cut]) as api:
        proposal = agent_for(api).propose(1, campaign_dir / "workspace", [])
    assert (proposal.snapshot / "synthetic/knobs.yaml").read_text() == KNOBS
    assert seen["tool"]["content"].startswith("[error] not run")
    assert seen["note"]["role"] == "user" and "cut off at the output limit" in seen["note"]["content"]
    assert api.requests[1]["messages"][2]["tool_calls"][0]["function"]["arguments"].endswith("optim")
    assert proposal.agent["failed_attempts"] == 1


def test_arguments_that_are_not_json_are_a_malformed_call(campaign_dir):
    seen = {}

    def collect(request):
        seen["tool"] = tool_messages(request)[0]
        return completion(call("submit_candidate", description="ok"))

    with FakeOpenAI([completion(call_raw("read_file", "{path: synthetic/knobs.yaml")), collect]) as api:
        proposal = agent_for(api).propose(1, campaign_dir / "workspace", [])
    assert "malformed call: the arguments are not JSON" in seen["tool"]["content"]
    assert proposal.agent["failed_attempts"] == 1 and proposal.agent["refused_tool_calls"] == 1


def test_rate_limits_are_waited_out_and_broken_replies_cost_an_attempt(campaign_dir):
    waits = []
    with FakeOpenAI([error(429, "Rate limit reached", retry_after=7), raw(200, b"<html>gateway</html>"),
                     completion(call("submit_candidate", description="ok"))]) as api:
        agent = agent_for(api)
        agent._sleep = waits.append
        proposal = agent.propose(1, campaign_dir / "workspace", [])
    assert waits[0] == 7 and proposal.agent["failed_attempts"] == 1 and proposal.agent["waited_s"] == 7


def test_a_refused_opening_request_stops_and_a_missing_model_is_named(campaign_dir):
    too_long = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9100 tokens."
    with FakeOpenAI([error(400, too_long, code="context_length_exceeded")]) as api:
        with pytest.raises(CampaignError, match="opening request.*context_length_exceeded: This model's maximum"):
            agent_for(api).propose(1, campaign_dir / "workspace", [])
    with FakeOpenAI([error(404, "The model `qwen-nope` does not exist")]) as api:
        with pytest.raises(CampaignError, match="no such model.*check --model qwen-nope and --base-url"):
            agent_for(api, model="qwen-nope").propose(1, campaign_dir / "workspace", [])


def test_the_official_api_gets_max_completion_tokens_and_a_local_server_needs_no_key(campaign_dir, monkeypatch):
    import openai

    with FakeOpenAI([completion(call("submit_candidate", description="ok"))]) as api:
        client = openai.OpenAI(api_key="sk-openai-local", base_url=api.v1, max_retries=0)
        opts = AgentOptions(max_retries=0)  # no base URL: as for api.openai.com
        agent = AgentProposer("openai", "synthetic", load_policy("architecture-open"), load_profile("synthetic"), opts)
        agent.provider.client = client
        agent.propose(1, campaign_dir / "workspace", [])
    assert api.requests[0]["max_completion_tokens"] == 8192 and "max_tokens" not in api.requests[0]
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ProposerError, match="OPENAI_API_KEY.*--base-url"):
        AgentProposer("openai", "synthetic", load_policy("architecture-open"), load_profile("synthetic"),
                      AgentOptions())
    with FakeOpenAI([completion(call("submit_candidate", description="ok"))]) as api:
        agent_for(api, model="local-model").propose(1, campaign_dir / "workspace", [])
    assert api.requests[0]["_headers"]["authorization"].startswith("Bearer ")


def test_web_literature_is_refused_for_openai_and_an_unpriced_local_model_is_marked(campaign_dir):
    with pytest.raises(ProposerError, match="--literature web uses Anthropic's server-side web search"):
        AgentProposer("openai", "synthetic", load_policy("architecture-open"), load_profile("synthetic"),
                      AgentOptions(literature="web"))
    with FakeOpenAI([completion(call("submit_candidate", description="ok"))]) as api:
        proposal = agent_for(api, model="Qwen/Qwen3-32B").propose(1, campaign_dir / "workspace", [])
    assert proposal.agent["cost_usd_estimate"] is None and "unpriced model Qwen/Qwen3-32B" in proposal.agent["price_basis"]
    with pytest.raises(ProposalFailed, match="3 failed attempts"):
        with FakeOpenAI([completion(content="I would rather chat.")] * 3) as api:
            agent_for(api).propose(2, campaign_dir / "workspace", [])


def test_resume_refuses_another_model_for_an_openai_campaign_as_for_claude(campaign_dir):
    from afr_box.orchestrator.campaign.identity import check_same
    from afr_box.orchestrator.records.models import CampaignMeta

    with FakeOpenAI([]) as api:
        recorded = agent_for(api, model="gpt-4.1").recorded()
    assert recorded["provider"] == "openai" and recorded["model"] == "gpt-4.1" and recorded["base_url"] == api.v1
    meta = CampaignMeta(name="c", task="synthetic", proposer="openai", profile_sha256="p", policy="architecture-open",
                        policy_sha256="q", base_image_id="b", max_candidates=4, agent=recorded)
    same = dict(profile_sha256="p", policy="architecture-open", policy_sha256="q", force=False)
    given = {"proposer": None, "seed": None, "max_candidates": None}
    assert check_same(meta, settings={**given, "agent_model": None}, **same)["agent_model"] == "gpt-4.1"
    with pytest.raises(CampaignError, match="agent_model 'gpt-4.1' -> 'Qwen/Qwen3-32B'"):
        check_same(meta, settings={**given, "agent_model": "Qwen/Qwen3-32B"}, **same)
    with pytest.raises(CampaignError, match="proposer 'openai' -> 'claude'"):
        check_same(meta, settings={**given, "proposer": "claude", "agent_model": None}, **same)
