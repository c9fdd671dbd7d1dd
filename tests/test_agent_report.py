"""The agent in the report: campaign token and cost totals (report.md, `afr-box status`) and each
candidate's conversation in report.html, looked at in a real headless Chromium. Agent text is
untrusted: markup in it must reach the reader as text, and no script of it may run."""
from __future__ import annotations

import json
import shutil

import numpy as np
from click.testing import CliRunner
from matplotlib.image import imread

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, ProposalRecord, save
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.orchestrator.proposers.agent.usage import AgentUsage, Tokens
from afr_box.policies.schema import policy_path
from afr_box.profiles.schema import profile_path
from afr_box.reports.campaign_report import write_report
from browser import dom, screenshot

HOSTILE = ('<script>document.title="pwned"</script><img src=x onerror="document.body.dataset.pwned=1">'
           '<a href="javascript:alert(1)">click</a>')
ASSISTANT_BLUE = np.array([0xEE, 0xF4, 0xFF]) / 255


def usage(model="claude-sonnet-4-6", requests=3, tool_calls=4, **tokens) -> dict:
    u = AgentUsage(model)
    for _ in range(requests):
        u.add(Tokens(**tokens))
    u.tool_calls = tool_calls
    return u.record()


def row(cand, status, score, description, proposer="claude", reason="", image="sha256:" + "ab" * 32):
    return Row(commit="c0ffee", score=score, runtime_seconds=30, budget="rounds=5 clients=4 steps<=100", status=status,
               target="synthetic", description=description, artifacts=f"candidates/{cand}", candidate=cand,
               image_id=image, surface_hash="f" * 64, policy="architecture-open", seed=42, proposer=proposer,
               reason=reason)


def transcript(path, events):
    path.write_text("".join(json.dumps(e) + "\n" for e in events))


def make_campaign(tmp_path):
    folder = CampaignFolder(tmp_path / "runs" / "agent-report")
    folder.path.mkdir(parents=True)
    shutil.copyfile(profile_path("synthetic"), folder.profile)
    shutil.copyfile(policy_path("architecture-open"), folder.policy)
    save(CampaignMeta(name=folder.name, task="synthetic", proposer="claude", profile_sha256="0" * 64,
                      policy="architecture-open", policy_sha256="1" * 64, base_image_id="sha256:" + "00" * 32,
                      agent={"provider": "anthropic", "model": "claude-sonnet-4-6"}), folder.meta)
    log = RunLog(folder.results)
    log.append(row("0000", "keep", 0.61, "baseline", proposer="baseline", reason="baseline"))
    # (the row's description is agent text too; its markdown table is issue 15's to escape: kept plain here)
    log.append(row("0001", "keep", 0.66, "claude: client: FedProx", reason="vs best 0.6100"))
    log.append(row("0002", "crash", None, "claude: no candidate (agent failed)", image="",
                   reason="proposer: agent gave no candidate after 3 failed attempts"))
    one, two = folder.candidate("0001"), folder.candidate("0002")
    for record in (one, two):
        record.path.mkdir(parents=True)
    save(ProposalRecord(description="claude: client: FedProx", proposer="claude",
                        agent=usage(input=1000, output=500, cache_read=4000, cache_write=2000)), one.proposal)
    save(ProposalRecord(proposer="claude", failed="agent gave no candidate",
                        agent=usage(model="claude-next-9", requests=2, tool_calls=0, input=800, output=10)),
         two.proposal)
    one.surface_diff.write_text("--- baseline/synthetic/client.py\n+++ candidate/synthetic/client.py\n"
                                "@@ -1 +1 @@\n-    return loss\n+    return loss + 0.05 * prox  # " + HOSTILE + "\n")
    transcript(one.transcript, [
        {"event": "start", "provider": "anthropic", "model": "claude-sonnet-4-6", "candidate": "0001",
         "literature": False, "system": "# Program: federated-learning research", "kickoff": "Propose candidate 0001."},
        {"event": "request", "n": 1},
        {"event": "response", "n": 1, "request_id": "req_0001a", "stop_reason": "tool_use", "seconds": 2.5,
         "usage": {"input": 1000, "output": 500}, "blocks": [
             {"type": "thinking", "text": "FedProx should help with heterogeneity."},
             {"type": "text", "text": f"I will add a proximal term. {HOSTILE}",
              "citations": [{"url": "javascript:alert(2)", "title": "x"}]},
             {"type": "tool_call", "id": "toolu_1", "name": "write_file",
              "input": {"path": "synthetic/client.py", "content": f"def loss():\n    return 1  # {HOSTILE}\n"}}]},
        {"event": "tool_result", "id": "toolu_1", "name": "write_file", "text": "wrote synthetic/client.py (40 bytes)",
         "is_error": False},
        {"event": "error", "n": 2, "status": 529, "kind": "overloaded_error", "message": "Overloaded",
         "request_id": "req_0001b", "action": "wait and retry"},
        {"event": "wait", "seconds": 17, "why": "the API is unavailable"},
        {"event": "response", "n": 2, "request_id": "req_0001c", "stop_reason": "max_tokens", "usage": {"output": 8192},
         "blocks": [{"type": "tool_call", "id": "toolu_2", "name": "write_file", "input": {"path": "synthetic/kn"}}]},
        {"event": "tool_result", "id": "toolu_2", "name": "write_file", "is_error": True,
         "text": "not run: the reply was cut off before this call was complete"},
        {"event": "note", "text": "Your reply was cut off at the output limit (max_tokens 8192)"},
        {"event": "end", "outcome": "submitted", "description": "client: FedProx",
         "usage": usage(input=1000, output=500)},
    ])
    transcript(two.transcript, [
        {"event": "start", "provider": "anthropic", "model": "claude-next-9", "candidate": "0002", "system": "p",
         "kickoff": "Propose candidate 0002."},
        {"event": "response", "n": 1, "request_id": "req_0002", "stop_reason": "end_turn",
         "blocks": [{"type": "text", "text": "I am not sure."}]},
        {"event": "end", "outcome": "failed", "reason": "agent gave no candidate after 3 failed attempts"},
    ])
    return folder


def test_report_md_and_status_carry_the_agents_campaign_totals(tmp_path):
    folder = make_campaign(tmp_path)
    write_report(folder.path)
    report = (folder.path / "report.md").read_text()
    section = report[report.index("## Agent"):report.index("## Candidates")]
    # 3 + 2 requests; tokens: 3 x (1000 + 500 + 4000 + 2000) + 2 x (800 + 10)
    # sonnet: 3000 x $3 + 1500 x $15 + 12000 x $0.30 + 6000 x $3.75 per million tokens = $0.0576
    assert "| 5 | 24120 | 4600 | 1520 | 12000 | 6000 | 4 | 0 | 0 | 0.0576 + 1 unpriced |" in section, section
    assert "| 0002 (no candidate) | 2 | 1600 | 20 | 0 | 0 | 0 | unpriced |" in section
    result = CliRunner().invoke(main, ["status", "--campaign", str(folder.path)])
    assert result.exit_code == 0, result.output
    assert "agent: 2 proposal(s), 5 requests, 24120 tokens" in result.output and "+ 1 unpriced" in result.output
    data = json.loads(CliRunner().invoke(main, ["status", "--campaign", str(folder.path), "--json"]).output)
    assert data["agent"]["requests"] == 5 and data["agent"]["cost_usd"] == 0.0576


def test_report_html_shows_each_conversation_as_escaped_text_in_a_real_browser(tmp_path):
    folder = make_campaign(tmp_path)
    write_report(folder.path)
    page = folder.path / "report.html"
    html = page.read_text()
    section = html[html.index('id="agent-conversations"'):]
    assert "<script>" not in section and "onerror=" not in section.replace("onerror=&#34;", "")
    assert "&lt;script&gt;document.title" in section and 'href="javascript' not in section
    rendered = dom(page)
    tail = rendered[rendered.index('id="agent-conversations"'):]
    assert "pwned" not in rendered.split("<title>")[1].split("</title>")[0]  # no script of the agent ran
    assert "data-pwned" not in rendered
    assert tail.count('class="afr-conv"') == 2 and 'id="conversation-0001"' in tail
    for shown in ("write_file", "wrote synthetic/client.py (40 bytes)", "request req_0001a", "stop: max_tokens",
                  "not run: the reply was cut off", "waited 17 s", "overloaded_error", "FedProx should help",
                  "files it wrote", "+    return loss + 0.05 * prox", "agent gave no candidate after 3 failed"):
        assert shown in tail, shown
    shot = screenshot(page, tmp_path / "agent-report.png")
    image = imread(shot)[..., :3]
    assert image.std() > 0.05  # a page, not a blank
    # the conversation view is on screen, styled: its agent replies' background colour
    assert (np.abs(image - ASSISTANT_BLUE).max(axis=-1) < 0.02).sum() > 5000
