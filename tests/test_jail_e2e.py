"""The agent jail through a real engine (no mocks): a `script` agent inside it fails every way out
and its `try` logs a scored row; the claude-code driver runs a fake `claude` that follows the
program (through the channel: check, a smoke run, a try the budget refuses); the agent CLIs npm
installs start in the jail. (`afr-box try --smoke` on the host: tests/test_smoke_e2e.py.)

Everything this module makes is its own: campaign names from `run_name`, the jail image removed
at the end (label afr.kind=jail), no container left with its labels.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from afr_box.orchestrator.records.runlog import RunLog
from isolation import containers_of, run_name

AGENTS = Path(__file__).resolve().parent / "fixtures" / "agents"
ESCAPES = ("read test labels by path", "read test inputs by path", "search the filesystem for test data",
           "reach the docker socket", "write outside surface/ (the program)", "write outside surface/ (a new file)",
           "write outside surface/ (/etc)", "reach a host that is not allow-listed", "reach a host directly",
           "read the host's home", "run as root")


def afr(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "afr-box"), *args]


@pytest.fixture(scope="module")
def jail_image(sandbox):
    """The bare jail image (no agent CLIs: the tests bring their own executables), removed at the end."""
    from afr_box.sandbox.images import find_base
    from afr_box.sandbox.jail.image import build_jail

    existing = {i.id for i in sandbox.images.client.images.list(filters={"label": "afr.kind=jail"})}
    info = build_jail(sandbox.images, find_base(sandbox.images), agents=False, progress=lambda m: None)
    yield info
    client = sandbox.executor.client
    if info.id not in existing:
        client.images.remove(info.id, force=True)


@pytest.fixture(scope="module")
def synthetic_ws(sandbox, data_root, jail_image, tmp_path_factory):
    work = tmp_path_factory.mktemp("jail")
    name = run_name("jail-e2e")
    env = {**os.environ, "AFR_DATA_ROOT": str(data_root)}
    subprocess.run(afr("workspace", "init", "synthetic", "--policy", "scalar-hpo", "--name", name,
                       "--max-candidates", "2", "--runs-dir", str(work / "runs"), "--dir", str(work / "ws")),
                   env=env, check=True, capture_output=True)  # the baseline and one candidate
    yield work / "ws", work / "runs" / name, env
    client = sandbox.executor.client
    assert containers_of(client, work / "runs" / name) == []
    assert client.containers.list(all=True, filters={"label": f"afr.jail={name}"}) == []
    _remove_own_images(client, work / "runs" / name)


def _remove_own_images(client, campaign: Path) -> None:
    """The candidate images of this module's own surfaces (never the baseline's, which other tests share)."""
    import docker

    records = [campaign / "candidates" / "0001", *sorted((campaign / "smoke" / "candidates").glob("s*"))]
    for image in (r / "image.json" for r in records):
        if image.is_file():
            try:
                client.images.remove(json.loads(image.read_text())["id"])
            except docker.errors.APIError:  # in use, or gone already
                pass


def agent_run(ws_dir: Path, env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(afr("agent", "run", "synthetic", "--dir", str(ws_dir), *args), env=env,
                          capture_output=True, text=True, timeout=timeout)


def session_folder(campaign: Path, n: int) -> Path:
    sessions = sorted((campaign / "agents").iterdir())
    assert len(sessions) == n, sessions
    return sessions[-1]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().startswith("{")]


def test_a_script_agent_in_the_jail_fails_every_way_out_and_its_try_logs_a_scored_row(synthetic_ws, data_root):
    ws_dir, campaign, env = synthetic_ws
    start = time.monotonic()
    done = agent_run(ws_dir, env, "--driver", "script", "--allow-host", "pypi.org", "--",
                     str(AGENTS / "escape_then_try.py"), str(data_root / "synthetic"), str(Path.home()))
    wall = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-3000:]
    session = session_folder(campaign, 1)

    # every way out failed, and the jail's log (its stdout) says how
    attempts = {e["attempt"]: e for e in lines(session / "transcript.jsonl") if "attempt" in e}
    assert set(ESCAPES) <= set(attempts)
    escaped = {name: e for name, e in attempts.items() if name in ESCAPES and e["ok"]}
    assert escaped == {}, escaped
    assert "Read-only file system" in attempts["write outside surface/ (the program)"]["error"]
    assert "403" in attempts["reach a host that is not allow-listed"]["error"]
    assert "uid 10002" in attempts["run as root"]["error"] or os.geteuid() != 0

    # the proxy logged each egress attempt, refused or allowed, with the reason
    egress = lines(session / "proxy.log")
    refused = [e for e in egress if e["verdict"] == "refused"]
    assert [e["host"] for e in refused] == ["example.com"] and "not allow-listed" in refused[0]["reason"]
    assert any(e.get("host") == "pypi.org" and e["verdict"] in ("allowed", "failed") for e in egress)

    # check, try and status went through the channel; the try logged the baseline and a scored row
    channel = lines(session / "channel.log")
    assert [(e["verb"], e["exit"]) for e in channel] == [("check", 0), ("try", 0), ("status", 0)]
    rows = RunLog(campaign / "results.tsv").rows()
    assert [r.candidate for r in rows] == ["0000", "0001"]
    baseline, row = rows
    assert row.proposer == "external" and row.score is not None and str(row.status) in ("keep", "discard")
    assert "knobs: lr 0.05 -> 0.06 (from the jail)" in row.description and "[snapshot " in row.description
    assert [f for f in vars(row)] == [f for f in vars(baseline)]
    built_in = {p.name for p in (campaign / "candidates" / "0000").iterdir()}
    assert built_in <= {p.name for p in (campaign / "candidates" / "0001").iterdir()}
    assert "lr: 0.06" in (campaign / "candidates" / "0001" / "surface" / "synthetic" / "knobs.yaml").read_text()
    own = lines(campaign / "candidates" / "0001" / "agent.jsonl")  # the session's transcript up to its try
    assert {e["attempt"] for e in own if "attempt" in e} >= set(ESCAPES)
    assert not (campaign / "candidates" / "0000" / "agent.jsonl").exists()

    record = json.loads((session / "session.json").read_text())
    assert record["exit_code"] == 0 and record["candidates"] == ["0001"] and record["driver"] == "script"
    assert record["requests"] == {"check": 1, "try": 1, "status": 1} and record["egress"]["refused"] == 1
    jail = json.loads((session / "jail.json").read_text())
    assert jail["network_mode"] == "none" and jail["read_only"] and jail["user"] != "0:0"
    assert not any("docker.sock" in m["source"] or "test_" in m["source"] for m in jail["mounts"])
    assert str(campaign / "candidates") in (ws_dir / "AGENTS.md").read_text()  # the host's program again
    print(f"\njail session with the script agent: {wall:.1f} s (baseline {baseline.runtime_seconds} s, "
          f"candidate {row.runtime_seconds} s)")


def test_the_claude_code_driver_runs_claude_with_the_program_until_the_budget_is_spent(synthetic_ws):
    ws_dir, campaign, env = synthetic_ws
    before = RunLog(campaign / "results.tsv").rows()
    done = agent_run(ws_dir, {**env, "ANTHROPIC_API_KEY": "sk-test-not-recorded"}, "--driver", "claude-code",
                     "--agent-bin", str(AGENTS / "fake_claude.py"), "--max-turns", "12")
    assert done.returncode == 0, done.stderr[-3000:]
    session = session_folder(campaign, 2)
    events = lines(session / "transcript.jsonl")
    init, result = events[0], events[-1]
    assert init["type"] == "system" and init["problems"] == [] and init["api_key"] == "set"
    assert init["cwd"] == "/workspace" and "Edit(surface/**)" in init["tools"]
    # check, a smoke run (never a row), then a try the campaign's budget refuses: the program says stop
    assert [(e["verb"], e["exit"]) for e in lines(session / "channel.log")] == [("check", 0), ("smoke", 0),
                                                                              ("try", 2), ("status", 0)]
    results = [e["message"]["content"][0]["content"] for e in events if e["type"] == "user"]
    assert "the gate passes" in results[0]
    assert "PASSED: gate, build, train, infer and score all went through" in results[1]
    assert "the campaign's budget of 2 candidates is spent" in results[2]
    assert result["type"] == "result" and result["subtype"] == "success" and "budget is spent" in result["result"]
    assert RunLog(campaign / "results.tsv").rows() == before
    assert (campaign / "smoke" / "candidates" / "s001").is_dir()
    assert "fedprox_mu: 0.0001" in (ws_dir / "surface" / "synthetic" / "knobs.yaml").read_text()
    for name in ("jail.json", "session.json"):
        assert "sk-test-not-recorded" not in (session / name).read_text()
    record = json.loads((session / "session.json").read_text())
    assert record["driver"] == "claude-code" and record["allow_hosts"] == ["api.anthropic.com"]
    assert record["command"][:2] == ["claude", "-p"] and "--allowedTools" in record["command"]
    assert record["requests"] == {"check": 1, "smoke": 1, "try": 1, "status": 1} and record["candidates"] == []


def test_the_agent_clis_from_npm_run_in_the_jail(sandbox, jail_image, tmp_path):
    """The native executables npm installs (what `afr-box image jail` copies in) start in the jail as
    its user with no network; without npm there are none and the image says so."""
    from afr_box.sandbox.jail.image import _stage_binaries, agent_clis, cli_versions, jail_agents

    clis = agent_clis(progress=lambda m: None)
    if clis is None:  # no npm here, or its registry unreachable
        assert jail_agents(jail_image) == {}
        return
    versions = cli_versions(clis)
    (tmp_path / "bin").mkdir()
    _stage_binaries(clis / "node_modules", tmp_path / "bin")
    assert {p.name for p in (tmp_path / "bin").iterdir()} >= {"claude", "codex"}
    out = sandbox.executor.client.containers.run(
        jail_image.id, ["sh", "-c", "mkdir -p $HOME; claude --version; codex --version"], user="10002:10002",
        network_mode="none", read_only=True, tmpfs={"/tmp": "size=64m"}, environment={"HOME": "/tmp/home"},
        cap_drop=["ALL"], volumes={str(tmp_path / "bin"): {"bind": "/opt/afr-agent/bin", "mode": "ro"}},
        remove=True, stderr=True).decode()
    assert f"{versions['@anthropic-ai/claude-code']} (Claude Code)" in out, out
    assert f"codex-cli {versions['@openai/codex']}" in out, out
    print(f"\nin the jail: claude {versions['@anthropic-ai/claude-code']}, codex {versions['@openai/codex']}")
