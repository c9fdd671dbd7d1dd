"""The repeat table flags seeds that do not do what seeds do (a warning, not a violation): final
weights identical across seeds (a hard-coded seed), or scores identical while the weights differ."""
from __future__ import annotations

from afr_box.orchestrator.records.repeats import COLUMNS, OLD_COLUMNS, Repeat, append_repeat, read_repeats
from afr_box.orchestrator.records.runlog import RunLog
from afr_box.reports.findings import repeat_table, repeats_markdown, seed_warning
from test_runlog import make_row


def test_seed_warning_cases():
    assert seed_warning({42: 0.7, 43: 0.71}, {42: "a", 43: "b"}) == ""
    assert "hard-coded seed" in seed_warning({42: 0.7, 43: 0.7}, {42: "a", 43: "a"})
    assert "weights identical across 3 seeds" in seed_warning({1: 0.7, 2: 0.7, 3: 0.7}, {1: "a", 2: "a", 3: "a"})
    assert "scores identical across 2 seeds while the weights differ" in seed_warning({42: 0.7, 43: 0.7},
                                                                                       {42: "a", 43: "b"})
    assert seed_warning({42: 0.7}, {42: "a"}) == "" and seed_warning({42: 0.7, 43: 0.7}, {}) == ""


def test_the_repeat_table_carries_the_warning(tmp_path):
    RunLog(tmp_path / "results.tsv").append(make_row("0000", "keep", 0.7, proposer="baseline"))
    runs = [("0000", 42, 0.70, "w42"), ("0000", 43, 0.72, "w43"),   # an honest baseline
            ("0001", 42, 0.75, "same"), ("0001", 43, 0.75, "same"),  # ignores the seed
            ("0002", 42, 0.74, "x42"), ("0002", 43, 0.74, "x43")]    # a score that ignores the weights
    for cand, seed, score, weights in runs:
        append_repeat(tmp_path / "repeats.tsv", Repeat(cand, seed, score, "discard", 1.0, "img", "", weights))
    warnings = {r["candidate"]: r["warning"] for r in repeat_table(tmp_path)}
    assert warnings["0000"] == "" and "hard-coded seed" in warnings["0001"] and "weights differ" in warnings["0002"]
    assert "| 0001 | 2 |" in repeats_markdown(tmp_path) and "hard-coded seed?) |" in repeats_markdown(tmp_path)


def test_a_repeats_file_from_before_the_weights_column_still_reads_and_grows(tmp_path):
    path = tmp_path / "repeats.tsv"
    path.write_text("\t".join(OLD_COLUMNS) + "\n" + "0000\t42\t0.7\tdiscard\t1.0\timg\t\n")
    assert read_repeats(path)[0].weights == ""
    append_repeat(path, Repeat("0000", 43, 0.71, "discard", 1.0, "img", "", "w43"))
    assert path.read_text().splitlines()[0] == "\t".join(COLUMNS)
    assert [r.weights for r in read_repeats(path)] == ["", "w43"]
