"""Findings by default, end to end on real containers: a campaign with the shipped defaults (noise
floor over 3 seeds, selection on the validation part) and `--finish`: repeats over seeds, the
held-out part and the whole test set scored from the repeats' own models, labelled findings,
the report leading with them, a resumed finish that runs nothing twice, and the summary."""
from __future__ import annotations

import json

from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, FindingsRecord, load
from afr_box.orchestrator.records.repeats import read_repeats
from afr_box.orchestrator.records.runlog import RunLog
from task_campaign import shrunk_profile


def test_campaign_with_the_defaults_then_finish(sandbox, data_root, tmp_path):
    import yaml

    short = shrunk_profile("synthetic", tmp_path, rounds=2)
    spec = yaml.safe_load(short.read_text())
    spec.update({"noise_seeds": 3, "heldout_fraction": 0.3})   # the shipped defaults
    profile = tmp_path / "synthetic-defaults.yaml"
    profile.write_text(yaml.safe_dump(spec))
    runs, cli = tmp_path / "runs", CliRunner()
    common = ["--profile", str(profile), "--runs-dir", str(runs), "--data-root", str(data_root), "--quiet"]
    result = cli.invoke(main, ["campaign", "synthetic", "--proposer", "optuna", "--sampler", "random",
                               "--max-candidates", "3", "--name", "fin", "--parallel", "2", *common])
    assert result.exit_code == 0, result.output
    folder = CampaignFolder(runs / "fin")
    noise = load(CampaignMeta, folder.meta).noise
    assert noise.seeds == [42, 43, 44] and noise.std is not None and noise.delta == 2 * noise.std
    rows = RunLog(folder.results).rows()
    assert [r.candidate for r in rows] == ["0000", "0001", "0002"]
    for r in rows[1:]:  # a kept candidate, or one with a gain inside the floor, names the floor it was judged by
        assert "noise floor" in r.reason or "no gain" in r.reason or r.status not in ("keep", "discard"), r.reason

    result = cli.invoke(main, ["finish", str(folder.path), "--top", "1", "--seeds", "42,43,44", "--parallel", "2",
                               "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    record = load(FindingsRecord, folder.findings)
    assert record.splits == ["test", "heldout", "full"] and record.seeds == [42, 43, 44]
    chosen = [f.candidate for f in record.findings]
    assert chosen[0] == "0000" and len(chosen) >= 2
    repeats = read_repeats(folder / "repeats.tsv")
    # the campaign's own runs and the noise runs are reused, not run again
    reused = {(r.candidate, r.seed): r.reason for r in repeats if r.reason.startswith("reused")}
    assert reused[("0000", 42)] == "reused candidates/0000" and reused[("0000", 43)] == "reused noise/candidates/0000-s43"
    if record.best != "0000":
        assert reused[(record.best, 42)] == f"reused candidates/{record.best}"
    by_seed = {(r.candidate, r.seed): r.score for r in repeats}
    assert by_seed[("0000", 44)] == noise.scores["44"]
    for split, name in (("heldout", "heldout"), ("full", "fulltest")):
        lines = read_repeats(folder / f"{name}.tsv")
        assert sorted((r.candidate, r.seed) for r in lines) == sorted((c, s) for c in chosen for s in (42, 43, 44))
        trained = json.loads((folder / name / "candidates/0000-s43/trained_from.json").read_text())
        assert trained == {"record": str(folder.path / "noise/candidates/0000-s43"), "split": split}
        containers = json.loads((folder / name / "candidates/0000-s43/containers.json").read_text())
        assert set(containers) == {"infer", "score"}  # the repeat's model, scored again: no retraining
    labels = {f.candidate: f.label for f in record.findings}
    assert labels["0000"] == "baseline" and all(labels[c] for c in chosen)
    report = (folder / "report.md").read_text()
    assert report.index("## Findings") < report.index("## Summary") and "held-out mean" in report
    assert "review delta | auto: noise floor" in report

    # resumed: nothing runs again, the findings are the same
    counts = {name: len(read_repeats(folder / f"{name}.tsv")) for name in ("repeats", "heldout", "fulltest")}
    again = cli.invoke(main, ["finish", str(folder.path), "--top", "1", "--seeds", "42,43,44",
                              "--data-root", str(data_root)])
    assert again.exit_code == 0, again.output
    assert {name: len(read_repeats(folder / f"{name}.tsv")) for name in counts} == counts
    assert [f.label for f in load(FindingsRecord, folder.findings).findings] == [labels[c] for c in chosen]

    # the whole test set of seed 42's baseline model is what a campaign without a held-out part scores
    spec.update({"noise_seeds": 1, "heldout_fraction": 0.0})
    whole = tmp_path / "synthetic-whole.yaml"
    whole.write_text(yaml.safe_dump(spec))
    result = cli.invoke(main, ["campaign", "synthetic", "--proposer", "baseline", "--max-candidates", "1", "--name",
                               "whole", "--profile", str(whole), "--runs-dir", str(runs), "--data-root", str(data_root),
                               "--quiet"])
    assert result.exit_code == 0, result.output
    full = {(r.candidate, r.seed): r.score for r in read_repeats(folder / "fulltest.tsv")}
    assert full[("0000", 42)] == RunLog(runs / "whole/results.tsv").rows()[0].score

    summary = cli.invoke(main, ["summary", str(folder.path), "--out", str(tmp_path / "summary")])
    assert summary.exit_code == 0, summary.output
    assert "## Table V: LEAF tasks (pooled)" in summary.output and "| fin | synthetic | optuna (random) |" in summary.output
