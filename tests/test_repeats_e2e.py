"""Repeats: a candidate's image rerun over seeds through the same sandbox; the logged seed
reproduces the logged score exactly, and the summary holds paired differences."""
from __future__ import annotations

from click.testing import CliRunner

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.cli import main
from afr_box.orchestrator.records.repeats import read_repeats
from afr_box.reports.findings import repeat_table, repeats_markdown as summary_markdown
from afr_box.orchestrator.records.runlog import RunLog
from isolation import containers_of, run_name
from task_campaign import one_seed_profile


def test_repeat_baseline_and_best(sandbox, data_root, tmp_path):
    folder = run_campaign(CampaignOptions(task="synthetic", proposer="hpo", max_candidates=2, name=run_name("rep"),
                                          runs_dir=tmp_path, data_root=data_root,
                                          profile=one_seed_profile("synthetic", tmp_path)))
    logged = {r.candidate: r for r in RunLog(folder / "results.tsv").rows()}
    result = CliRunner().invoke(main, ["repeat", str(folder), "--candidates", "baseline,0001",
                                       "--seeds", "42,43", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    repeats = read_repeats(folder / "repeats.tsv")
    assert sorted((r.candidate, r.seed) for r in repeats) == [("0000", 42), ("0000", 43), ("0001", 42), ("0001", 43)]
    by = {(r.candidate, r.seed): r.score for r in repeats}
    # the profile's seed is 42: rerunning with it reproduces the campaign's scores exactly
    assert by[("0000", 42)] == logged["0000"].score and by[("0001", 42)] == logged["0001"].score
    assert by[("0000", 43)] != by[("0000", 42)]  # another seed really changes the run
    weights = {(r.candidate, r.seed): r.weights for r in repeats}
    assert all(len(w) == 64 for w in weights.values()) and weights[("0000", 42)] != weights[("0000", 43)]
    assert {r["candidate"]: r["warning"] for r in repeat_table(folder)} == {"0000": "", "0001": ""}
    md = summary_markdown(folder)
    diff = (by[("0001", 42)] - by[("0000", 42)] + by[("0001", 43)] - by[("0000", 43)]) / 2
    assert f"{diff:+.4f}" in md and "0000 (baseline)" in md and "not a confirmatory test" in md
    # resumable: a second call reruns nothing
    again = CliRunner().invoke(main, ["repeat", str(folder), "--candidates", "baseline,0001",
                                      "--seeds", "42,43", "--data-root", str(data_root)])
    assert again.exit_code == 0 and len(read_repeats(folder / "repeats.tsv")) == 4
    assert containers_of(sandbox.images.client, folder / "repeats") == []
    # the campaign report carries the repeat table, the per-seed plot, and a self-contained HTML copy
    report = (folder / "report.md").read_text()
    assert "## Repeats" in report and f"| {f'{diff:+.4f}'} |" in report and "![repeats](repeats.png)" in report
    assert (folder / "repeats.png").stat().st_size > 0
    html = (folder / "report.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html and 'src="repeats.png"' not in html

    # `replay --seed`: a rerun with another seed is not compared with the logged score (exit 0), and it
    # is the same run as the repeat with that seed
    replayed = CliRunner().invoke(main, ["replay", str(folder), "0000", "--seed", "43", "--data-root", str(data_root)])
    assert replayed.exit_code == 0, replayed.output
    assert replayed.output.strip().endswith("different seed: scores not compared")
    assert f"replayed {by[('0000', 43)]!r}" in replayed.output and "MISMATCH" not in replayed.output
