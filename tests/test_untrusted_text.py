"""Candidate-derived text (descriptions, error texts, file names) is bounded and inert before it
enters a row, a record or a message: terminal escapes, bidi overrides, undecodable file-name
bytes and megabytes of error text are kept as visible, harmless escapes."""
from __future__ import annotations

import json
import os

import pytest

from afr_box.orchestrator.records.models import CandidateRecord, GateRecord, ProposalRecord, load, save
from afr_box.orchestrator.records.runlog import RunLog
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.sandbox.outputs import check_outputs
from afr_box.tasks.shared.text import MAX_CHARS, TRUNCATED, safe_text
from test_runlog import make_row

HOSTILE = "ATTACK \x1b]0;PWNED\x07\x1b[2J\x1b[8mhidden\x1b[0m \x9b31m \u202eevil \udce9 tab\there\nnext"


def test_control_characters_become_visible_escapes():
    text = safe_text(HOSTILE)
    assert text == ("ATTACK \\x1b]0;PWNED\\x07\\x1b[2J\\x1b[8mhidden\\x1b[0m \\x9b31m \\u202eevil \\xe9 "
                    "tab here next")
    assert all(0x20 <= ord(c) < 0x7F for c in text)  # nothing left for a terminal to act on
    assert safe_text("ok: é ü 中 — fine") == "ok: é ü 中 — fine"


def test_long_text_is_truncated_to_the_limit_and_cleaning_is_idempotent():
    text = safe_text("A" * 2_000_000)
    assert len(text) == MAX_CHARS and text.endswith(TRUNCATED)
    for value in (text, safe_text(HOSTILE), safe_text("\x1b" * 5000)):
        assert safe_text(value) == value
    assert len(safe_text("\x1b" * 5000)) == MAX_CHARS  # escapes lengthen, the bound holds


def test_multi_line_text_keeps_its_lines_and_nothing_else():
    assert safe_text("a\r\nb\tc\x1b[31m", lines=True) == "a\nb\tc\\x1b[31m"


def test_a_hostile_row_is_logged_inert_and_reads_back_with_its_chain_intact(tmp_path):
    log = RunLog(tmp_path / "results.tsv")
    log.append(make_row("0000", "keep", proposer="baseline"))
    logged = log.append(make_row("0001", "crash", None, description=HOSTILE, reason="E" * 3_000_000 + HOSTILE))
    raw = (tmp_path / "results.tsv").read_bytes()
    assert b"\x1b" not in raw and b"\x07" not in raw and "\u202e".encode() not in raw
    assert len(raw) < 4000  # 3 MB of error text became 1000 characters
    assert log.rows()[1] == logged and log.chain_breaks() == []
    assert logged.description.startswith("ATTACK \\x1b]0;PWNED") and logged.reason.endswith(TRUNCATED)


def test_records_keep_candidate_text_inert_whoever_builds_them(tmp_path):
    save(ProposalRecord(description=HOSTILE, sources=[HOSTILE], failed="x" * 5000), tmp_path / "proposal.json")
    save(GateRecord(ok=False, reason=HOSTILE, checks=[("text", False, HOSTILE)]), tmp_path / "gate.json")
    for name in ("proposal.json", "gate.json"):
        raw = (tmp_path / name).read_text(encoding="utf-8")
        assert "\\u001b" not in raw and "\\ud" not in raw and len(raw) < 5000
    assert load(ProposalRecord, tmp_path / "proposal.json").description == safe_text(HOSTILE)
    fields = make_row("0001", "crash", None).__dict__
    record = CandidateRecord(**{**fields, "reason": HOSTILE})
    assert record.reason == safe_text(HOSTILE)
    assert Proposal(snapshot=tmp_path, description=HOSTILE, proposer="x").description == safe_text(HOSTILE)


def test_a_file_name_that_is_not_utf8_is_named_escaped_and_the_row_can_be_logged(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.npz").write_bytes(b"")
    with open(os.path.join(os.fsencode(out), b"stats-\xe9\x1b.json"), "wb") as f:
        f.write(b"{}")
    problem = check_outputs(out, "train", ["site-1"])
    assert problem.startswith("unexpected file stats-\\xe9\\x1b.json in the train outputs")
    problem.encode("utf-8")  # once raised UnicodeEncodeError and wedged the campaign
    log = RunLog(tmp_path / "results.tsv")
    log.append(make_row("0001", "violation", None, reason=f"train: outputs: {problem}"))
    json.dumps(log.rows()[0].reason).encode("utf-8")


@pytest.mark.parametrize("stats", [{"error": "E" * 2_000_000}, {"error": {"nested": ["x"] * 100_000}}, ["no", "dict"]])
def test_a_forged_stats_file_gives_a_bounded_reason(stats):
    from afr_box.orchestrator.pipeline.phases import failure
    from afr_box.sandbox.provider import RunResult

    status, reason = failure(RunResult(exit_code=4, timed_out=False, oom_killed=False, wall_s=1.0), "infer", stats)
    assert status == "violation" and len(reason) <= MAX_CHARS + len("infer: ")
