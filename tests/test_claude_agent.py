"""The Claude proposer against a local Messages API server (the real `anthropic` client, real tools)."""
from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.proposers.agent.claude import ClaudeOptions, ClaudeProposer, ProposalFailed
from afr_box.policies.schema import load_policy, policy_path
from afr_box.profiles.schema import load_profile, profile_path
from afr_box.tasks.shared.layout import repo_file
from fake_anthropic import FakeAnthropic, error, raw, reply, result_text, text, tool_results, tool_use

FAST = ClaudeOptions(max_retries=4, attempt_backoff_s=0.0)


@pytest.fixture
def campaign_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-local")
    folder = tmp_path / "campaign"
    folder.mkdir()
    shutil.copyfile(profile_path("synthetic"), folder / "profile.yaml")
    shutil.copyfile(policy_path("architecture-open"), folder / "policy.yaml")
    return folder


def proposer(opts: ClaudeOptions = FAST) -> ClaudeProposer:
    return ClaudeProposer("synthetic", load_policy("architecture-open"), load_profile("synthetic"), opts)


def run_agent(monkeypatch, campaign_dir, script, opts: ClaudeOptions = FAST):
    with FakeAnthropic(script) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        try:
            return proposer(opts).propose(1, campaign_dir / "workspace", []), api
        finally:
            assert api.exhausted, f"{len(api.script)} scripted turns left unused"


def submit(description="knobs: lr 0.1", **kw):
    return reply(tool_use("submit_candidate", description=description, **kw))


def test_agent_reads_writes_and_submits_with_usage_recorded(monkeypatch, campaign_dir):
    seen = {}

    def write_after_reading(request):
        seen["client"] = result_text(tool_results(request)[0])
        knobs = repo_file("synthetic/knobs.yaml").read_text().replace("lr: 0.05", "lr: 0.1")
        return reply(tool_use("write_file", path="synthetic/knobs.yaml", content=knobs))

    proposal, api = run_agent(monkeypatch, campaign_dir, [
        reply(text("Reading the client first."), tool_use("read_file", path="synthetic/client.py")),
        write_after_reading,
        submit("knobs: lr 0.05 -> 0.1"),
    ])
    assert "while flare.is_running()" in seen["client"]
    assert "lr: 0.1" in (proposal.snapshot / "synthetic/knobs.yaml").read_text()
    assert proposal.description == "claude: knobs: lr 0.05 -> 0.1"
    assert proposal.agent["input_tokens"] == 3 * 1200 and proposal.agent["output_tokens"] == 3 * 150
    assert proposal.agent["tool_calls"] == 3 and proposal.agent["cost_usd_estimate"] > 0
    first = api.requests[0]
    headers = first["_headers"]
    assert "sk-test-local" in headers.get("x-api-key", "") + headers.get("authorization", "")
    assert "Mutation surface" in first["system"] and "synthetic/client.py" in first["system"]
    assert {t["name"] for t in first["tools"]} >= {"read_file", "write_file", "submit_candidate"}


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


def test_overloaded_and_server_errors_are_retried_then_succeed(monkeypatch, campaign_dir):
    proposal, api = run_agent(monkeypatch, campaign_dir, [error(529), error(500), error(429), submit()])
    assert len(api.requests) == 4
    assert proposal.agent["requests"] == 1 and proposal.agent["failed_attempts"] == 0


def test_a_request_failing_past_the_client_retries_costs_one_attempt(monkeypatch, campaign_dir):
    opts = ClaudeOptions(max_retries=1, attempt_backoff_s=0.0)
    proposal, api = run_agent(monkeypatch, campaign_dir, [error(529), error(529), submit()], opts)
    assert proposal.agent["failed_attempts"] == 1 and len(api.requests) == 3


def test_malformed_tool_calls_and_broken_replies_cost_one_attempt_each(monkeypatch, campaign_dir):
    answers = []

    def collect(request):
        answers.extend(tool_results(request))
        return submit()

    proposal, _ = run_agent(monkeypatch, campaign_dir, [
        raw(200, b"{this is not json"),
        reply(text("I think I am done.")),  # no tool call
        reply(tool_use("write_file", path=7, content=None), tool_use("no_such_tool")),
        collect,
    ], ClaudeOptions(max_attempts=5, attempt_backoff_s=0.0))
    assert [a.get("is_error") for a in answers] == [True, True]
    assert "must be a string" in result_text(answers[0]) and "unknown tool" in result_text(answers[1])
    assert proposal.agent["failed_attempts"] == 4


def test_an_agent_that_never_submits_fails_this_candidate_only(monkeypatch, campaign_dir):
    with pytest.raises(ProposalFailed, match="3 failed attempts") as info:
        run_agent(monkeypatch, campaign_dir, [reply(text("hmm")), reply(), reply(text("still thinking"))])
    assert info.value.usage.requests == 3


def test_a_refused_key_stops_the_campaign_with_a_clear_error(monkeypatch, campaign_dir):
    with pytest.raises(CampaignError, match="refused the key"):
        run_agent(monkeypatch, campaign_dir, [error(401)])


def test_missing_api_key_is_a_clear_error_suggesting_hpo(monkeypatch, data_root, tmp_path):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = CliRunner().invoke(main, ["campaign", "synthetic", "--proposer", "claude", "--data-root",
                                       str(data_root), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "ANTHROPIC_API_KEY" in result.output and "--proposer hpo" in result.output
    assert not (tmp_path / "runs").exists()  # nothing left behind


def test_literature_mode_requires_sources_and_can_search_the_web(monkeypatch, campaign_dir):
    answers = []

    def cite(request):
        answers.extend(tool_results(request))
        return submit("fedprox mu 0.01", sources=["Li et al. 2020, FedProx, arXiv:1812.06127"])

    with FakeAnthropic([submit("no source"), cite]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        agent = proposer(ClaudeOptions(literature="web", attempt_backoff_s=0.0))
        agent.literature_pending = True
        proposal = agent.propose(3, campaign_dir / "workspace", [])
    assert "cite at least one source" in result_text(answers[0])
    assert any(t.get("type") == "web_search_20250305" for t in api.requests[0]["tools"])
    assert "LITERATURE MODE IS ON" in api.requests[0]["system"]
    assert proposal.description.endswith("[src: Li et al. 2020, FedProx, arXiv:1812.06127]")
    event = agent.take_literature_event()
    assert event.sources == proposal.sources and event.elapsed_s >= 0 and not agent.literature_pending


def test_web_search_blocks_are_sent_back_and_their_urls_and_cost_recorded(monkeypatch, campaign_dir):
    url = "https://arxiv.org/abs/2003.00295"
    search = {"type": "server_tool_use", "id": "srvtoolu_fake1", "name": "web_search",
              "input": {"query": "adaptive federated optimization"}}
    found = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_fake1",
             "content": [{"type": "web_search_result", "url": url, "title": "Adaptive Federated Optimization",
                          "encrypted_content": "opaque", "page_age": None}]}
    sent_back = {}

    def after_search(request):
        sent_back["assistant"] = request["messages"][1]
        return submit("knobs: FedAdam server optimizer", sources=["Reddi et al. 2021"])

    with FakeAnthropic([reply(search, found, tool_use("list_files"), web_searches=1), after_search]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        agent = proposer(ClaudeOptions(literature="web", attempt_backoff_s=0.0))
        agent.literature_pending = True
        proposal = agent.propose(4, campaign_dir / "workspace", [])
    kinds = [b["type"] for b in sent_back["assistant"]["content"]]
    assert kinds == ["server_tool_use", "web_search_tool_result", "tool_use"]
    assert sent_back["assistant"]["content"][1]["content"][0]["url"] == url
    assert proposal.sources == ["Reddi et al. 2021", url]
    assert proposal.agent["web_search_requests"] == 1
    assert proposal.agent["cost_usd_estimate"] > 0.01  # $10 per 1000 searches on top of the tokens
