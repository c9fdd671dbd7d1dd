"""The agents end to end, through the real sandbox: the built-in agent with each provider, and an
external coding agent.

A real campaign with --proposer claude runs against the local Messages API server. Candidate 0001
meets a five-minute overload storm first (529s with retry-after, past the client's own retries: a
clock that moves only when the agent waits), then reads client.py, writes a FedProx proximal term,
checks it with the gate and a smoke run, and submits; it is built into its own image, trained in a
container and scored. 0002 never calls a tool: a crash row that costs no candidate. 0003's first
reply is cut off at max_tokens mid-write: not run, retried. A discard trips the plateau watchdog
(threshold 1 here), the agent goes to the literature (a `literature` row, a purple marker in
progress.png), and a very long reply passes --max-cost-usd: the next proposal is a row that says so
and the campaign stops short of --max-candidates. Every request carries cache_control; the report
holds the conversations, seen in a real headless Chromium.

A campaign with --proposer openai runs against a local OpenAI-compatible server: the agent adds an
MLP to models.py and selects it. A persistent 400 stops a campaign after its baseline with one line
and exit 2, and --resume with another model is refused.

A shell script acting as an external coding agent drives `afr-box workspace init`, `try`,
`status` and `literature start|finish|log`; its rows match a built-in candidate's fields.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.proposers.agent import loop as agent_loop
from afr_box.orchestrator.proposers.agent.loop import AgentOptions
from afr_box.orchestrator.records.runlog import RunLog
from browser import dom, screenshot
from fake_anthropic import FakeAnthropic, error, kickoff, reply, result_text, text, thinking, tool_results, tool_use
from fake_openai import FakeOpenAI, call, completion, tool_messages
from isolation import run_name
from task_campaign import one_seed_profile

LOAD_LINE = "        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)\n"
LOSS = "    def loss_of_batch(idx):\n        x, y = tensors(data.batch(idx))\n        return cross_entropy(model(x), y)\n"
FEDPROX_LOSS = ("    anchor = []  # this round's global weights: FedProx's proximal anchor\n\n"
                "    def loss_of_batch(idx):\n"
                "        x, y = tensors(data.batch(idx))\n"
                "        prox = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))\n"
                "        return cross_entropy(model(x), y) + 0.05 * prox\n")
FEDPROX_SRC = "Li et al. 2020, Federated Optimization in Heterogeneous Networks (FedProx), arXiv:1812.06127"
STORM_S = 300
COST_CAP = 1.0
MARKUP = "<b>bold?</b> <img src=x onerror=alert(1)>"


def add_fedprox(client: str) -> str:
    assert LOAD_LINE in client and LOSS in client, "the synthetic client changed: update this scripted agent"
    return client.replace(LOSS, FEDPROX_LOSS).replace(
        LOAD_LINE, LOAD_LINE + "        anchor[:] = [p.detach().clone() for p in model.parameters()]\n")


class FakeTime:
    """The agent loop's clock: it moves only when the loop waits, so a five-minute storm takes no time."""

    def __init__(self):
        self.now, self.storm_started = 1000.0, None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def scripted_agent(clock: FakeTime):
    seen: dict[str, str] = {}

    def answer(request: dict):
        """One function answers every request, from what the conversation holds so far."""
        first, turn = kickoff(request), len(request["messages"])
        if "candidate 0002" in first:  # a broken agent: text only, never a tool call
            return reply(text("I am not sure what to try next."))
        if "LITERATURE MODE IS ON" in first:
            if turn == 1:
                return reply(tool_use("read_file", path="synthetic/knobs.yaml"))
            knobs = result_text(tool_results(request)[0]).replace("fedprox_mu: 0.0", "fedprox_mu: 0.001")
            return reply(tool_use("write_file", path="synthetic/knobs.yaml", content=knobs),
                         tool_use("submit_candidate", description="knobs: FedProx mu 0.001", sources=[FEDPROX_SRC]),
                         output_tokens=70000)  # a long, costly reply: past --max-cost-usd
        if "candidate 0001" in first:
            if turn == 1:
                if clock.storm_started is None:
                    clock.storm_started = clock.now
                if clock.now - clock.storm_started < STORM_S:
                    return error(529, "Overloaded", retry_after=17)
                return reply(thinking("The clients disagree: a proximal term should help."),
                             tool_use("read_file", path="synthetic/client.py"), input_tokens=2100, output_tokens=60)
            if turn == 3:
                client = add_fedprox(result_text(tool_results(request)[0]))
                return reply(text(f"Adding a FedProx term. {MARKUP}"),
                             tool_use("write_file", path="synthetic/client.py", content=client),
                             tool_use("check_candidate"), input_tokens=4300, output_tokens=900)
            if turn == 5:
                seen["check"] = result_text(tool_results(request)[1])
                return reply(tool_use("smoke_run"), input_tokens=800, output_tokens=20, cache_read=4000)
            seen["smoke"] = result_text(tool_results(request)[0])
            return reply(tool_use("submit_candidate", description="client: FedProx proximal term (mu 0.1)"),
                         input_tokens=5300, output_tokens=40)
        if "candidate 0003" in first:
            if turn == 1:  # cut off mid-write: must never be run
                return reply(tool_use("write_file", path="synthetic/knobs.yaml", content="model: logreg\nopt"),
                             stop_reason="max_tokens", output_tokens=8192)
            if turn == 3:
                return reply(tool_use("read_file", path="synthetic/knobs.yaml"))
            knobs = result_text(tool_results(request)[0]).replace("lr: 0.05", "lr: 0.001")
            return reply(tool_use("write_file", path="synthetic/knobs.yaml", content=knobs),
                         tool_use("submit_candidate", description="knobs: lr 0.001"))
        return error(400, f"scripted agent: no answer for {first[:60]!r}")

    return answer, seen


@pytest.fixture(scope="module")
def claude_campaign(sandbox, data_root, tmp_path_factory):
    clock = FakeTime()
    answer, seen = scripted_agent(clock)
    with pytest.MonkeyPatch.context() as mp, FakeAnthropic([answer] * 80) as api:
        mp.setenv("ANTHROPIC_API_KEY", "sk-test-local")
        mp.setenv("ANTHROPIC_BASE_URL", api.base_url)
        mp.setattr(agent_loop, "time", clock)  # only the agent loop's clock and sleep
        folder = run_campaign(CampaignOptions(
            task="synthetic", proposer="claude", policy="architecture-open", max_candidates=6, name=run_name("e2e-claude"),
            runs_dir=tmp_path_factory.mktemp("runs"), data_root=data_root, plateau_threshold=1,
            profile=one_seed_profile("synthetic", tmp_path_factory.mktemp("profile")),
            agent=AgentOptions(attempt_backoff_s=0.0, max_retries=0, max_cost_usd=COST_CAP)))
    return folder, api, seen


def rows_of(folder: Path) -> dict:
    return {r.candidate: r for r in RunLog(folder / "results.tsv").rows()}


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_claude_fedprox_candidate_waits_out_a_storm_checks_and_is_built_trained_and_scored(claude_campaign):
    folder, _, seen = claude_campaign
    rows = rows_of(folder)
    fedprox = rows["0001"]
    assert fedprox.proposer == "claude" and fedprox.description.startswith("claude: client: FedProx")
    assert fedprox.status in ("keep", "discard") and fedprox.score is not None, fedprox.reason
    assert fedprox.image_id.startswith("sha256:")
    record = folder / "candidates" / "0001"
    assert "+        prox = sum(" in (record / "surface.diff").read_text()
    agent = json.loads((record / "proposal.json").read_text())["agent"]
    assert agent["input_tokens"] == 2100 + 4300 + 800 + 5300 and agent["cache_read_input_tokens"] == 4000
    assert agent["tool_calls"] == 5 and agent["checks"] == 1 and agent["smoke_runs"] == 1
    assert agent["failed_attempts"] == 0 and agent["waited_s"] >= STORM_S  # the storm cost no attempt
    assert json.loads((record / "record.json").read_text())["agent"]["input_tokens"] == 12500
    log = events(record / "agent.jsonl")
    assert sum(e["event"] == "wait" for e in log) >= 5 and any(e.get("status") == 529 for e in log)
    # the gate's verdict and the smoke run through the containers, before submitting; no score in it
    assert seen["check"].startswith("the gate would accept") and "PASS contract" in seen["check"]
    assert "PASSED: gate, build, train, infer and score all went through" in seen["smoke"]
    assert "1 round, 2 clients, at most 2 local steps" in seen["smoke"]
    assert not re.search(r"\d\.\d{4}", seen["smoke"].split("steps:")[0]), seen["smoke"]
    smoke = folder / "smoke" / "candidates" / "0001-s1"
    run = json.loads((smoke / "run-train.json").read_text())["budget"]
    assert (run["rounds"], run["clients"], run["local_steps"]["max"]) == (1, 2, 2)
    assert (smoke / "score" / "score.json").is_file() and "0001-s1" not in rows  # never a row
    print(f"\nFedProx candidate: {fedprox.status} {fedprox.score:.4f} (baseline {rows['0000'].score:.4f}); "
          f"tokens in/out {agent['input_tokens']}/{agent['output_tokens']}, ~${agent['cost_usd_estimate']}")


def test_every_request_carries_cache_breakpoints_on_a_stable_prefix(claude_campaign):
    _, api, _ = claude_campaign
    answered = [r for r in api.requests]
    programs = {r["system"][0]["text"] for r in answered}
    assert len(programs) == 1, "the program must be the same for every candidate (a stable cached prefix)"
    for request in answered:
        assert request["system"][0]["cache_control"] == {"type": "ephemeral"}
        own = [t for t in request["tools"] if t["name"] != "web_search"]
        assert own[-1]["cache_control"] == {"type": "ephemeral"}
        last_user = [m for m in request["messages"] if m["role"] == "user"][-1]
        assert last_user["content"][-1]["cache_control"] == {"type": "ephemeral"}


def test_an_agent_that_gives_no_candidate_is_a_crash_row_that_costs_no_candidate(claude_campaign):
    folder, _, _ = claude_campaign
    rows = rows_of(folder)
    broken = rows["0002"]
    assert broken.status == "crash" and broken.image_id == "", broken
    assert broken.reason.startswith("proposer: ") and "agent gave no candidate after 3 failed attempts" in broken.reason
    assert json.loads((folder / "candidates/0002/record.json").read_text())["agent"]["failed_attempts"] == 3
    assert events(folder / "candidates/0002/agent.jsonl")[-1]["outcome"] == "failed"
    assert rows["0003"].score is not None and rows["0004"].score is not None


def test_a_reply_cut_off_at_max_tokens_is_not_run(claude_campaign):
    folder, _, _ = claude_campaign
    record = folder / "candidates" / "0003"
    assert "opt\n" not in (record / "surface/synthetic/knobs.yaml").read_text().split("optimizer")[0]
    assert "lr: 0.001" in (record / "surface/synthetic/knobs.yaml").read_text()
    log = events(record / "agent.jsonl")
    assert any(e["event"] == "response" and e["stop_reason"] == "max_tokens" for e in log)
    assert any(e["event"] == "tool_result" and e["text"].startswith("not run") for e in log)
    assert json.loads((record / "proposal.json").read_text())["agent"]["failed_attempts"] == 1


def test_watchdog_fires_and_logs_a_literature_row(claude_campaign):
    folder, _, _ = claude_campaign
    rows = RunLog(folder / "results.tsv").rows()
    literature = [r for r in rows if r.status == "literature"]
    assert literature, [(r.candidate, r.status) for r in rows]
    lit = literature[0]
    assert lit.score is None and FEDPROX_SRC in lit.description and lit.artifacts.startswith("literature/")
    event = json.loads((folder / lit.artifacts / "literature.json").read_text())
    assert event["sources"] == [FEDPROX_SRC] and event["elapsed_s"] >= 0
    after = rows[rows.index(lit) + 1]  # the candidate built on it carries its sources
    assert f"[src: {FEDPROX_SRC}]" in after.description and after.proposer == "claude"
    # its usage is recorded once, in the candidate's proposal.json, never copied here
    assert "agent" not in event and event["usage_recorded_in"] == f"candidates/{after.candidate}/proposal.json"


def test_the_cost_cap_stops_the_campaign_with_a_row_that_says_so(claude_campaign):
    folder, _, _ = claude_campaign
    rows = RunLog(folder / "results.tsv").rows()
    last = rows[-1]
    assert last.status == "crash" and f"--max-cost-usd {COST_CAP} reached" in last.reason, last
    assert last.description == "claude: no candidate (stopped: cost cap)"
    counted = [r for r in rows if r.candidate.isdigit() and not r.reason.startswith("proposer: ")]
    assert len(counted) < 6  # stopped short of --max-candidates
    meta = json.loads((folder / "campaign.json").read_text())
    assert meta["agent"]["provider"] == "anthropic" and meta["agent"]["model"] == "claude-sonnet-4-6"
    assert meta["agent"]["max_cost_usd"] == COST_CAP


def test_literature_row_is_a_purple_marker_in_progress_png(claude_campaign):
    folder, _, _ = claude_campaign
    image = imread(folder / "progress.png")[..., :3]
    purple = np.array([0x7B, 0x1F, 0xA2]) / 255
    assert (np.abs(image - purple).max(axis=-1) < 0.06).sum() > 50


def test_the_report_has_the_agents_totals_and_its_conversations_in_a_real_browser(claude_campaign, tmp_path):
    folder, _, _ = claude_campaign
    report = (folder / "report.md").read_text()
    agent = report[report.index("## Agent"):report.index("## Candidates")]
    assert "proposal(s) by claude-sonnet-4-6" in agent and "| 0001 |" in agent and "| 0002 (no candidate) |" in agent
    page = folder / "report.html"
    rendered = dom(page)
    view = rendered[rendered.index('id="agent-conversations"'):]
    assert 'id="conversation-0001"' in view and 'id="conversation-0005"' in view
    for shown in ("read_file", "check_candidate", "smoke_run", "prox = sum(", "529 overloaded_error",
                  "The clients disagree", "stop: max_tokens", "files it wrote"):
        assert shown in view, shown
    assert "&lt;b&gt;bold?&lt;/b&gt;" in view and "<b>bold?</b>" not in view  # agent markup stays text
    shot = screenshot(page, tmp_path / "agent-e2e-report.png")
    image = imread(shot)[..., :3]
    assert (np.abs(image - np.array([0xEE, 0xF4, 0xFF]) / 255).max(axis=-1) < 0.02).sum() > 5000


MLP = """

class DeepMLP(nn.Module):
    \"\"\"Two hidden layers: Linear(60, 32) -> ReLU -> Linear(32, 32) -> ReLU -> Linear(32, 5).\"\"\"

    def __init__(self, in_features: int = NUM_FEATURES, classes: int = NUM_CLASSES, hidden: int = 32,
                 init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
"""


def openai_agent(request: dict):
    messages = request["messages"]
    if len(messages) == 2:
        return completion(call("read_file", path="synthetic/models.py"), call("read_file", path="synthetic/knobs.yaml"))
    results = tool_messages(request)
    if results and results[0]["content"].startswith('"""Registered model variants'):
        models, knobs = results[0]["content"], results[1]["content"]
        models = models.replace('\n\nMODELS = {"logreg": MultinomialLogReg, "mlp": MLP}',
                                MLP + '\n\nMODELS = {"logreg": MultinomialLogReg, "mlp": MLP, "deep": DeepMLP}')
        return completion(call("write_file", path="synthetic/models.py", content=models),
                          call("write_file", path="synthetic/knobs.yaml", content=knobs.replace("model: logreg",
                                                                                             "model: deep")),
                          content="An MLP can fit the clients' non-linear rules.", cached_tokens=1024)
    return completion(call("submit_candidate", description="model: a 60-32-5 MLP instead of logistic regression"))


@pytest.fixture(scope="module")
def openai_campaign(sandbox, data_root, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp, FakeOpenAI([openai_agent] * 10) as api:
        mp.setenv("OPENAI_API_KEY", "sk-openai-local")
        folder = run_campaign(CampaignOptions(
            task="synthetic", proposer="openai", policy="architecture-open", max_candidates=2, name="e2e-openai",
            runs_dir=tmp_path_factory.mktemp("runs"), data_root=data_root,
            profile=one_seed_profile("synthetic", tmp_path_factory.mktemp("profile")),
            agent=AgentOptions(model="gpt-4.1", base_url=api.v1, attempt_backoff_s=0.0, max_retries=0)))
    return folder, api


def test_openai_model_candidate_is_built_trained_and_scored_with_its_transcript(openai_campaign):
    folder, api = openai_campaign
    rows = rows_of(folder)
    mlp = rows["0001"]
    assert mlp.proposer == "openai" and mlp.description == "openai: model: a 60-32-5 MLP instead of logistic regression"
    assert mlp.status in ("keep", "discard") and mlp.score is not None and mlp.image_id.startswith("sha256:"), mlp.reason
    diff = (folder / "candidates/0001/surface.diff").read_text()
    assert "+class DeepMLP(nn.Module):" in diff and "+model: deep" in diff
    agent = json.loads((folder / "candidates/0001/proposal.json").read_text())["agent"]
    assert agent["provider"] == "openai" and agent["cache_read_input_tokens"] == 1024 and agent["tool_calls"] == 5
    assert all(r["model"] == "gpt-4.1" and r["max_tokens"] == 8192 for r in api.requests)
    view = dom(folder / "report.html")
    assert 'id="conversation-0001"' in view and "An MLP can fit the clients" in view and "class DeepMLP" in view
    print(f"\nMLP candidate: {mlp.status} {mlp.score:.4f} (baseline {rows['0000'].score:.4f})")


def test_a_persistent_400_stops_after_the_baseline_in_one_line_and_resume_refuses_another_model(
        sandbox, data_root, tmp_path):
    credit = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade."
    runs = tmp_path / "runs"
    base = [sys.executable, "-m", "afr_box.orchestrator.cli", "campaign", "synthetic", "--name", "e2e-400",
            "--runs-dir", str(runs), "--data-root", str(data_root), "--quiet"]
    with FakeAnthropic([error(400, credit)] * 5) as api:
        env = {**os.environ, "ANTHROPIC_API_KEY": "sk-test-local", "ANTHROPIC_BASE_URL": api.base_url}
        done = subprocess.run(base + ["--proposer", "claude", "--policy", "architecture-open", "--max-candidates", "4"],
                              env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and "credit balance is too low" in lines[0], lines
        assert "Traceback" not in done.stderr and len(api.requests) == 1  # stopped at once: no retry, no attempts
        rows = rows_of(runs / "e2e-400")
        assert list(rows) == ["0000"] and rows["0000"].score is not None  # nothing recorded is lost
        refused = subprocess.run(base + ["--resume", "--model", "claude-opus-4-6"], env=env, capture_output=True,
                                 text=True, timeout=300)
    assert refused.returncode == 2 and "agent_model 'claude-sonnet-4-6' -> 'claude-opus-4-6'" in refused.stderr
    assert len(api.requests) == 1 and list(rows_of(runs / "e2e-400")) == ["0000"]


AGENT_SCRIPT = r"""
set -euo pipefail
afr-box workspace init synthetic --policy architecture-open --name e2e-external --runs-dir "$RUNS" --dir ws
cd ws
grep -q 'afr-box try -m' AGENTS.md && cmp -s AGENTS.md CLAUDE.md
afr-box status
edit() { "$PYTHON" -c 'import sys; p, a, b = sys.argv[1:]; s = open(p).read(); assert a in s; open(p, "w").write(s.replace(a, b))' "$@"; }
edit surface/synthetic/knobs.yaml "lr: 0.05" "lr: 0.08"
afr-box try -m "knobs: lr 0.05 -> 0.08"
echo "# tampered" > surface/synthetic/bridge.py
afr-box try -m "edits the data bridge" || true
rm surface/synthetic/bridge.py
afr-box workspace reset
afr-box literature start
afr-box literature finish --source "Reddi et al. 2021, Adaptive Federated Optimization, arXiv:2003.00295" -m "server-side Adam"
edit surface/synthetic/knobs.yaml "aggregator: weighted" "aggregator: fedadam"
edit surface/synthetic/knobs.yaml "server_lr: 1.0" "server_lr: 0.03"
afr-box try -m "knobs: FedAdam server optimizer" --source "arXiv:2003.00295"
afr-box literature log
afr-box status
"""


@pytest.fixture(scope="module")
def external_campaign(sandbox, data_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("external")
    env = {**os.environ, "AFR_DATA_ROOT": str(data_root), "RUNS": str(work / "runs"), "PYTHON": sys.executable,
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", AGENT_SCRIPT], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work / "runs" / "e2e-external", done.stdout


def test_external_agent_try_logs_rows_like_a_built_in_candidate(external_campaign, claude_campaign):
    folder, output = external_campaign
    rows = {r.candidate: r for r in RunLog(folder / "results.tsv").rows()}
    assert list(rows) == ["0000", "0001", "0002", "L001", "0003"], list(rows)
    tried = rows["0001"]
    assert tried.proposer == "external" and tried.description.startswith("external: knobs: lr 0.05 -> 0.08 [snapshot ")
    assert tried.status in ("keep", "discard") and tried.score is not None and tried.image_id.startswith("sha256:")
    assert "status: " + tried.status in output and "candidate: 0001" in output  # the row is printed
    builtin = claude_campaign[0] / "candidates" / "0001"
    external = folder / "candidates" / "0001"
    agent_only = {"agent.jsonl"}  # the built-in agent's transcript
    assert sorted(p.name for p in external.iterdir()) == sorted(p.name for p in builtin.iterdir()
                                                                if p.name not in agent_only)
    keys = set(json.loads((builtin / "record.json").read_text())) - {"agent"}
    assert set(json.loads((external / "record.json").read_text())) == keys
    assert rows["0002"].status == "rejected" and "synthetic/bridge.py" in rows["0002"].reason


def test_external_literature_event_and_cited_candidate(external_campaign):
    folder, output = external_campaign
    rows = {r.candidate: r for r in RunLog(folder / "results.tsv").rows()}
    lit = rows["L001"]
    assert lit.status == "literature" and lit.score is None and "arXiv:2003.00295" in lit.description
    assert rows["0003"].description.startswith("external: knobs: FedAdam server optimizer [src: arXiv:2003.00295] [snapshot ")
    assert rows["0003"].score is not None, rows["0003"].reason
    assert "L001" in output and "    - Reddi et al. 2021" in output  # literature log
    assert (folder / "progress.png").is_file() and (folder / "report.md").is_file()
