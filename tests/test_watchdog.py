"""The plateau watchdog on synthetic run logs, literature rows, and the agent's path rules."""
from __future__ import annotations

import pytest

from afr_box.orchestrator.proposers.agent.program import render_program
from afr_box.orchestrator.proposers.agent.tools import AgentTools, MalformedCall, ToolRefused
from afr_box.orchestrator.campaign.literature import log_literature
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.orchestrator.pipeline.watchdog import plateau_state
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile


def row(cand: str, status: str, score=None, proposer="claude") -> Row:
    return Row(commit="", score=score, runtime_seconds=1.0, budget="b", status=status, target="synthetic",
               description=f"candidate {cand}", artifacts=f"candidates/{cand}", candidate=cand, image_id="",
               surface_hash="", policy="architecture-open", seed=42, proposer=proposer)


BASELINE = row("0000", "keep", 0.80, proposer="baseline")


def test_counts_scored_candidates_since_the_last_improvement():
    rows = [BASELINE, row("0001", "discard", 0.79), row("0002", "keep", 0.82), row("0003", "discard", 0.81),
            row("0004", "discard", 0.80)]
    assert plateau_state(rows, 3).since_progress == 2 and not plateau_state(rows, 3).fired
    rows.append(row("0005", "discard", 0.815))
    state = plateau_state(rows, 3)
    assert state.fired and "PLATEAU" in state.describe()


def test_failures_do_not_count_and_a_literature_event_resets_the_count():
    rows = [BASELINE, row("0001", "discard", 0.7), row("0002", "crash"), row("0003", "rejected"),
            row("0004", "violation"), row("0005", "discard", 0.7)]
    assert plateau_state(rows, 2).since_progress == 2 and plateau_state(rows, 2).fired
    rows.append(row("L001", "literature"))
    assert plateau_state(rows, 2).since_progress == 0 and not plateau_state(rows, 2).fired
    rows += [row("0006", "discard", 0.7), row("0007", "discard", 0.7)]
    assert plateau_state(rows, 2).fired


def test_threshold_zero_turns_the_watchdog_off():
    rows = [BASELINE] + [row(f"{i:04d}", "discard", 0.5) for i in range(1, 20)]
    assert not plateau_state(rows, 0).fired and "off" in plateau_state(rows, 0).describe()


def test_profiles_carry_the_threshold_and_the_program_states_it():
    profile = load_profile("synthetic")
    assert profile.plateau_threshold == 5
    facts = {"example_path": "synthetic/knobs.yaml", "candidates": "runs/c/candidates", "restore_best": "reset",
             "max_candidates": None, "smoke_budget": "1 round", "long_note": "", "data_note": "", "session_note": ""}
    text = render_program("external", profile, load_policy("architecture-open"), workspace=facts)
    assert "After 5 scored candidates without improvement" in text and "afr-box literature start" in text


def test_literature_rows_round_trip_with_their_sources(tmp_path):
    log = RunLog(tmp_path / "results.tsv")
    log.append(BASELINE)
    first = log_literature(tmp_path, log, task="synthetic", policy="architecture-open", seed=42, budget="b",
                           proposer="claude", sources=["arXiv:1812.06127"], summary="FedProx", elapsed_s=12.5)
    second = log_literature(tmp_path, log, task="synthetic", policy="architecture-open", seed=42, budget="b",
                            proposer="claude", sources=["a", "b"], summary="two", elapsed_s=1)
    assert [r.candidate for r in log.rows()] == ["0000", "L001", "L002"]
    assert first.description == "literature: FedProx [src: arXiv:1812.06127]" and first.runtime_seconds == 12.5
    assert (tmp_path / second.artifacts / "literature.json").is_file()
    with pytest.raises(ValueError, match="at least one source"):
        log_literature(tmp_path, log, task="t", policy="p", seed=1, budget="b", proposer="x", sources=[],
                       summary="", elapsed_s=0)


@pytest.mark.parametrize("path", ["../../sandbox/scorer.py", "synthetic/../../sandbox/runner.py", "/etc/passwd",
                                  "synthetic/bridge.py", "synthetic/metric.py", "synthetic/client.py",
                                  "shared/sitecustomize.py", "synthetic/./knobs.yaml", ""])
def test_a_scalar_policy_agent_may_write_only_the_knobs_file(tmp_path, path):
    tools = AgentTools("synthetic", load_policy("scalar-hpo"), tmp_path, tmp_path / "work")
    assert tools.writable_reason("synthetic/knobs.yaml") is None
    with pytest.raises(ToolRefused, match="refused"):
        tools.call("write_file", {"path": path, "content": "x"})
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("*"))


def test_malformed_calls_are_named_as_such(tmp_path):
    tools = AgentTools("synthetic", load_policy("architecture-open"), tmp_path, tmp_path / "work")
    for name, args in (("write_file", {"path": "synthetic/knobs.yaml"}), ("read_file", "synthetic/client.py"),
                       ("delete_everything", {}), ("read_candidate_log", {"candidate": "0001", "lines": "all"})):
        with pytest.raises(MalformedCall):
            tools.call(name, args)
