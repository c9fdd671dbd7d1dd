"""The agents end to end: the built-in Claude proposer and an external coding agent.

A real campaign with --proposer claude runs against the local Messages API server. The
scripted agent reads client.py, adds a FedProx proximal term, submits; the candidate is built
into its own image, trained in a container and scored. For the next candidate it never calls a
tool: a crash row, and the campaign goes on. A discard trips the plateau watchdog (threshold 1
here), the agent goes to the literature, and a `literature` row appears in results.tsv and as
a purple marker in progress.png.

A shell script acting as an external coding agent drives `afr-box workspace init`, `try`,
`status` and `literature start|finish|log`; its rows match a built-in candidate's fields.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.proposers.agent.claude import ClaudeOptions
from afr_box.orchestrator.records.runlog import RunLog
from fake_anthropic import FakeAnthropic, reply, result_text, text, tool_results, tool_use

LOAD_LINE = "        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)\n"
LOSS = "    def loss_of_batch(idx):\n        return cross_entropy(model(x[idx]), y[idx])\n"
FEDPROX_LOSS = ("    anchor = []  # this round's global weights: FedProx's proximal anchor\n\n"
                "    def loss_of_batch(idx):\n"
                "        prox = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))\n"
                "        return cross_entropy(model(x[idx]), y[idx]) + 0.05 * prox\n")
FEDPROX_SRC = "Li et al. 2020, Federated Optimization in Heterogeneous Networks (FedProx), arXiv:1812.06127"


def add_fedprox(client: str) -> str:
    assert LOAD_LINE in client and LOSS in client, "the synthetic client changed: update this scripted agent"
    return client.replace(LOSS, FEDPROX_LOSS).replace(
        LOAD_LINE, LOAD_LINE + "        anchor[:] = [p.detach().clone() for p in model.parameters()]\n")


def scripted_agent(request: dict):
    """One function answers every request, from what the conversation holds so far."""
    messages = request["messages"]
    kickoff, turn = messages[0]["content"], len(messages)
    if "candidate 0002" in kickoff:  # a broken agent: text only, never a tool call
        return reply(text("I am not sure what to try next."))
    if "LITERATURE MODE IS ON" in request["system"]:
        if turn == 1:
            return reply(tool_use("read_file", path="synthetic/knobs.yaml"))
        knobs = result_text(tool_results(request)[0]).replace("fedprox_mu: 0.0", "fedprox_mu: 0.001")
        return reply(tool_use("write_file", path="synthetic/knobs.yaml", content=knobs),
                     tool_use("submit_candidate", description="knobs: FedProx mu 0.001", sources=[FEDPROX_SRC]))
    if "candidate 0001" in kickoff:
        if turn == 1:
            return reply(tool_use("read_file", path="synthetic/client.py"), input_tokens=2100, output_tokens=60)
        if turn == 3:
            client = add_fedprox(result_text(tool_results(request)[0]))
            return reply(tool_use("write_file", path="synthetic/client.py", content=client),
                         input_tokens=4300, output_tokens=900)
        return reply(tool_use("submit_candidate", description="client: FedProx proximal term (mu 0.1)"),
                     input_tokens=5300, output_tokens=40)
    knobs_request = turn == 1
    if knobs_request:
        return reply(tool_use("read_file", path="synthetic/knobs.yaml"))
    knobs = result_text(tool_results(request)[0]).replace("lr: 0.05", "lr: 0.001")
    return reply(tool_use("write_file", path="synthetic/knobs.yaml", content=knobs),
                 tool_use("submit_candidate", description="knobs: lr 0.001"))


@pytest.fixture(scope="module")
def claude_campaign(sandbox, data_root, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp, FakeAnthropic([scripted_agent] * 40) as api:
        mp.setenv("ANTHROPIC_API_KEY", "sk-test-local")
        mp.setenv("ANTHROPIC_BASE_URL", api.base_url)
        folder = run_campaign(CampaignOptions(
            task="synthetic", proposer="claude", policy="architecture-open", max_candidates=5, name="e2e-claude",
            runs_dir=tmp_path_factory.mktemp("runs"), data_root=data_root, plateau_threshold=1,
            agent=ClaudeOptions(attempt_backoff_s=0.0)))
    return folder, api


def test_claude_fedprox_candidate_is_built_trained_and_scored(claude_campaign):
    folder, _ = claude_campaign
    rows = {r.candidate: r for r in RunLog(folder / "results.tsv").rows()}
    fedprox = rows["0001"]
    assert fedprox.proposer == "claude" and fedprox.description.startswith("claude: client: FedProx")
    assert fedprox.status in ("keep", "discard") and fedprox.score is not None, fedprox.reason
    assert fedprox.image_id.startswith("sha256:")
    record = folder / "candidates" / "0001"
    assert "+        prox = sum(" in (record / "surface.diff").read_text()
    agent = json.loads((record / "proposal.json").read_text())["agent"]
    assert agent["input_tokens"] == 2100 + 4300 + 5300 and agent["output_tokens"] == 60 + 900 + 40
    assert agent["tool_calls"] == 3 and agent["cost_usd_estimate"] > 0
    assert json.loads((record / "record.json").read_text())["agent"]["input_tokens"] == 11700
    assert json.loads((folder / "campaign.json").read_text())["agent"]["model"] == "claude-sonnet-4-6"
    print(f"\nFedProx candidate: {fedprox.status} {fedprox.score:.4f} (baseline {rows['0000'].score:.4f}); "
          f"tokens in/out {agent['input_tokens']}/{agent['output_tokens']}, ~${agent['cost_usd_estimate']}")


def test_an_agent_that_gives_no_candidate_is_a_crash_row_and_the_campaign_goes_on(claude_campaign):
    folder, _ = claude_campaign
    rows = {r.candidate: r for r in RunLog(folder / "results.tsv").rows()}
    broken = rows["0002"]
    assert broken.status == "crash" and broken.image_id == "", broken
    assert broken.reason.startswith("proposer: agent gave no candidate after 3 failed attempts")
    assert json.loads((folder / "candidates/0002/record.json").read_text())["agent"]["failed_attempts"] == 3
    assert rows["0003"].score is not None and rows["0004"].score is not None


def test_watchdog_fires_and_logs_a_literature_row(claude_campaign):
    folder, _ = claude_campaign
    rows = RunLog(folder / "results.tsv").rows()
    literature = [r for r in rows if r.status == "literature"]
    assert literature, [(r.candidate, r.status) for r in rows]
    lit = literature[0]
    assert lit.score is None and FEDPROX_SRC in lit.description and lit.artifacts.startswith("literature/")
    event = json.loads((folder / lit.artifacts / "literature.json").read_text())
    assert event["sources"] == [FEDPROX_SRC] and event["elapsed_s"] >= 0
    after = rows[rows.index(lit) + 1]  # the candidate built on it carries its sources
    assert f"[src: {FEDPROX_SRC}]" in after.description and after.proposer == "claude"


def test_literature_row_is_a_purple_marker_in_progress_png(claude_campaign):
    folder, _ = claude_campaign
    image = imread(folder / "progress.png")[..., :3]
    purple = np.array([0x7B, 0x1F, 0xA2]) / 255
    assert (np.abs(image - purple).max(axis=-1) < 0.06).sum() > 50


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
    assert tried.proposer == "external" and tried.description == "external: knobs: lr 0.05 -> 0.08"
    assert tried.status in ("keep", "discard") and tried.score is not None and tried.image_id.startswith("sha256:")
    assert "status: " + tried.status in output and "candidate: 0001" in output  # the row is printed
    builtin = claude_campaign[0] / "candidates" / "0001"
    external = folder / "candidates" / "0001"
    assert sorted(p.name for p in external.iterdir()) == sorted(p.name for p in builtin.iterdir())
    keys = set(json.loads((builtin / "record.json").read_text())) - {"agent"}
    assert set(json.loads((external / "record.json").read_text())) == keys
    assert rows["0002"].status == "rejected" and "synthetic/bridge.py" in rows["0002"].reason


def test_external_literature_event_and_cited_candidate(external_campaign):
    folder, output = external_campaign
    rows = {r.candidate: r for r in RunLog(folder / "results.tsv").rows()}
    lit = rows["L001"]
    assert lit.status == "literature" and lit.score is None and "arXiv:2003.00295" in lit.description
    assert rows["0003"].description == "external: knobs: FedAdam server optimizer [src: arXiv:2003.00295]"
    assert rows["0003"].score is not None, rows["0003"].reason
    assert "L001" in output and "    - Reddi et al. 2021" in output  # literature log
    assert (folder / "progress.png").is_file() and (folder / "report.md").is_file()
