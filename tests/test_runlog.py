"""results.tsv: column order, round trip, crash-safe append, resume and best-row queries."""
from __future__ import annotations

import os

import pytest

from dataclasses import replace

from afr_box.orchestrator.records import files as durable

from afr_box.orchestrator.records.runlog import COLUMNS, HEADER, Row, RunLog, RunLogError


def make_row(cand: str, status: str = "discard", score: float | None = 0.5, **kw) -> Row:
    fields = dict(commit=f"{int(cand):012x}", score=score, runtime_seconds=12.34,
                  budget="rounds=15 clients=4 steps<=250", status=status, target="heart",
                  description=f"candidate {cand}", artifacts=f"candidates/{cand}",
                  candidate=cand, image_id="sha256:" + "ab" * 32, surface_hash="cd" * 32,
                  policy="scalar-hpo", seed=42, proposer="hpo", reason="",
                  finished_at="2025-01-01T00:00:00Z")
    fields.update(kw)
    return Row(**fields)


def test_header_and_column_order(tmp_path):
    assert COLUMNS[:8] == ("commit", "score", "runtime_seconds", "budget", "status", "target",
                           "description", "artifacts")
    assert COLUMNS[8:] == ("candidate", "image_id", "surface_hash", "policy", "seed",
                           "proposer", "reason", "finished_at", "chain")
    log = RunLog(tmp_path / "results.tsv")
    log.append(make_row("0001"))
    lines = log.path.read_text().splitlines()
    assert lines[0] == "\t".join(COLUMNS) and lines[0] + "\n" == HEADER
    assert len(lines) == 2 and len(lines[1].split("\t")) == len(COLUMNS)


def test_round_trip_and_formatting(tmp_path):
    log = RunLog(tmp_path / "results.tsv")
    rows = [make_row("0000", "keep", 0.1 + 0.2, proposer="baseline"),
            make_row("0001", "rejected", None, reason="path outside\tsurface\nsecond line",
                     description="multi\nline\tdesc")]
    logged = [log.append(r) for r in rows]
    back = log.rows()
    assert back == logged and back[0].score == 0.1 + 0.2  # repr keeps every digit
    assert [replace(r, chain="") for r in back] == rows
    assert back[0].runtime_seconds == 12.3
    assert back[1].score is None and back[1].reason == "path outside surface second line"
    assert back[1].description == "multi line desc"
    cells = log.path.read_text().splitlines()[2].split("\t")
    assert cells[1] == "" and cells[2] == "12.3"


def test_missing_and_empty_file(tmp_path):
    assert RunLog(tmp_path / "nope.tsv").rows() == []
    (tmp_path / "empty.tsv").write_text("")
    log = RunLog(tmp_path / "empty.tsv")
    assert log.rows() == [] and log.done_candidates() == set() and log.best(True) is None
    log.append(make_row("0001"))  # an empty file still gets its header
    assert log.path.read_text().startswith(HEADER) and len(log.rows()) == 1


def test_append_is_atomic_when_replace_fails(tmp_path, monkeypatch):
    log = RunLog(tmp_path / "results.tsv")
    log.append(make_row("0001"))
    before = log.path.read_bytes()

    def crash(*_a, **_k):
        raise OSError("killed mid-append")

    monkeypatch.setattr(durable.os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        log.append(make_row("0002"))
    assert log.path.read_bytes() == before
    assert [r.candidate for r in log.rows()] == ["0001"]
    assert os.listdir(tmp_path) == ["results.tsv"]  # no temp file left behind
    monkeypatch.undo()
    log.append(make_row("0002"))
    assert [r.candidate for r in log.rows()] == ["0001", "0002"]


def test_done_candidates(tmp_path):
    log = RunLog(tmp_path / "results.tsv")
    for cand, status in [("0000", "keep"), ("0001", "crash"), ("0002", "candidate"),
                         ("0003", "literature"), ("0004", "rejected")]:
        log.append(make_row(cand, status))
    assert log.done_candidates() == {"0000", "0001", "0003", "0004"}


@pytest.mark.parametrize("higher, expected", [(True, "0003"), (False, "0000")])
def test_best_among_keep_and_baseline(tmp_path, higher, expected):
    log = RunLog(tmp_path / "results.tsv")
    log.append(make_row("0000", "keep", 0.60, proposer="baseline"))
    log.append(make_row("0001", "discard", 0.99))        # better, but discarded
    log.append(make_row("0002", "keep", 0.70))
    log.append(make_row("0003", "keep", 0.80))
    log.append(make_row("0004", "violation", 0.999))    # never a score
    log.append(make_row("0005", "literature", None))
    assert log.best(higher).candidate == expected


def test_baseline_counts_even_if_not_marked_keep(tmp_path):
    log = RunLog(tmp_path / "results.tsv")
    log.append(make_row("0000", "candidate", 0.6, proposer="baseline"))
    log.append(make_row("0001", "discard", 0.5))
    assert log.best(True).candidate == "0000"


def test_malformed_line_names_line_number(tmp_path):
    log = RunLog(tmp_path / "results.tsv")
    log.append(make_row("0001"))
    log.append(make_row("0002"))
    with log.path.open("a") as fh:
        fh.write("too\tfew\tfields\n")
    with pytest.raises(RunLogError, match=r"results\.tsv:4: .*17 tab-separated fields, got 3"):
        log.rows()
    lines = log.path.read_text().splitlines(keepends=True)
    lines[3] = make_row("0003").to_line().replace("\t42\t", "\tforty-two\t")
    log.path.write_text("".join(lines))
    with pytest.raises(RunLogError, match=r":4: malformed row"):
        log.rows()


def test_bad_header_and_bad_status(tmp_path):
    path = tmp_path / "results.tsv"
    path.write_text("commit\tscore\n")
    with pytest.raises(RunLogError, match=":1: header"):
        RunLog(path).rows()
    with pytest.raises(ValueError, match="status"):
        make_row("0001", "maybe")


def test_chain_links_every_row_and_finds_an_edited_or_deleted_row(tmp_path):
    log = RunLog(tmp_path / "results.tsv")
    for i, score in enumerate((0.5, 0.6, 0.55, 0.7)):
        log.append(make_row(f"{i:04d}", "keep", score))
    rows = log.rows()
    assert all(len(r.chain) == 64 for r in rows) and len({r.chain for r in rows}) == 4
    assert log.chain_breaks() == []
    original = log.path.read_text()
    # edit one score by hand: exactly that row (line 3) is reported
    log.path.write_text(original.replace("\t0.6\t", "\t0.9\t"))
    assert [(line, row.candidate) for line, row, _ in log.chain_breaks()] == [(3, "0001")]
    # delete a row: the row after the gap is reported
    lines = original.splitlines(keepends=True)
    log.path.write_text("".join(lines[:3] + lines[4:]))
    assert [(line, row.candidate) for line, row, _ in log.chain_breaks()] == [(4, "0003")]
