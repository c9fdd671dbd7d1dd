"""Hostile candidates through the real sandbox, and the audit that re-verifies a campaign.

The whole attack suite (tests/attacks) against the architecture-open policy on heart, as
`afr-box policy review architecture-open --task heart --attacks` runs it: every attack blocked for
its stated reason, the host and the data unchanged; then the audit is shown to catch hand edits of
the run log and the records of that campaign.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.pipeline.compute import cache_file
from afr_box.orchestrator.records.runlog import RunLog
from afr_box.profiles.schema import load_profile
from afr_box.security.attacks import default_suite, load_suite
from afr_box.security.suite import run_suite


@pytest.fixture(scope="module")
def suite(sandbox, heart_ready, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as env:  # a cache of its own: the suite calibrates the compute bound itself
        env.setenv("AFR_CACHE", str(tmp_path_factory.mktemp("cache")))
        report = run_suite("architecture-open", "heart", default_suite(), runs, heart_ready, timeout_s=120,
                           say=lines.append)
        cached = {path.name: path.read_text() for path in cache_file("x").parent.glob("*.json")}
    return report, runs / "attacks-architecture-open-heart", lines, cached


def test_every_attack_is_blocked_for_its_stated_reason(suite):
    report, _, lines, _ = suite
    assert report["control"]["status"] == "scored"
    by_name = {r["name"]: r for r in report["results"]}
    names = sorted(a.name for a in load_suite(default_suite()))
    assert sorted(by_name) == names and len(names) >= 53
    not_blocked = {n: (r["status"], r["reason"]) for n, r in by_name.items() if not r["blocked"]}
    assert not not_blocked
    assert by_name["background-process"]["status"] == "violation"
    assert "left background processes running" in by_name["background-process"]["reason"]
    assert by_name["symlink-out"]["reason"].startswith("train: outputs: train_stats.json is a symlink")
    assert by_name["fill-out"]["status"] == "violation" and by_name["fill-out"]["pruned"]
    assert by_name["monkeypatch-harness"]["status"] == "violation" and "num_rounds" in by_name["monkeypatch-harness"]["reason"]
    assert by_name["hardlink"]["blocked_by"] == "gate (file-types)"
    assert "ATTACK gate-build-swap blocked: the gated job.py ran" in by_name["gate-build-swap"]["reason"]
    assert "unexpected file stats-\\xe9.json" in by_name["non-utf8-out-name"]["reason"]
    assert by_name["sparse-proposal"]["blocked_by"] == "gate (limits)" and by_name["sparse-proposal"]["runtime_s"] < 30
    assert lines[-1] == f"{len(names)} attacks, {len(names)} blocked, 0 scored, host and data unchanged"


def test_the_local_compute_bound_is_calibrated_on_the_baseline_at_local_steps_max(suite):
    report, folder, _, cached = suite
    by_name = {r["name"]: r for r in report["results"]}
    assert by_name["local-compute-10x"]["status"] == "violation"
    assert "local compute: site-" in by_name["local-compute-10x"]["reason"]
    most = load_profile("heart").budget.local_steps.max
    [entry] = json.loads((folder / "compute.json").read_text())
    assert entry["local_steps"] == most and entry["bound_s"] == round(2.0 * max(entry["site_cpu_s"].values()) + 1.0, 3)
    # calibrated by this campaign (its runs under compute/), and kept in the machine's cache for the next
    assert json.loads(cached[f"{entry['key']}.json"]) == entry
    run = Path(entry["runs"])
    assert run.parent == folder / "compute" / "candidates"
    assert json.loads((run / "run-train.json").read_text())["budget"]["local_steps"]["baseline"] == most
    assert json.loads((run / "train" / "train_stats.json").read_text())["cpu_accounting_complete"]
    # the control (the baseline at its own local_steps) is within it, with its count in the score
    control = json.loads((folder / "candidates" / "0000" / "score" / "score.json").read_text())
    assert control["compute_bound_s"] == entry["bound_s"] and 0 < max(control["site_cpu_s"].values()) < entry["bound_s"]


def test_host_and_data_are_unchanged(suite):
    report, _, _, _ = suite
    assert report["ok"] and report["host_changed"] == [] and report["leftover_processes"] == []
    assert report["host_before"]["data"] == report["host_after"]["data"]
    assert any(k.startswith("harness:") for k in report["host_before"])


def test_audit_passes_an_untouched_campaign_and_reports_an_edited_row(suite, tmp_path):
    _, folder, _, _ = suite
    result = CliRunner().invoke(main, ["audit", str(folder)])
    assert result.exit_code == 0, result.output
    assert "audit of attacks-architecture-open-heart" in result.output and ": OK" in result.output

    copy = tmp_path / "edited"
    shutil.copytree(folder, copy, symlinks=True)
    log = copy / "results.tsv"
    lines = log.read_text().splitlines(keepends=True)
    row = RunLog(log).rows()[3]
    lines[4] = lines[4].replace(f"\t{row.status}\t", "\tkeep\t", 1)  # "promote" a blocked attack by hand
    log.write_text("".join(lines))
    result = CliRunner().invoke(main, ["audit", str(copy)])
    assert result.exit_code == 1
    assert f"results.tsv:5 (candidate {row.candidate}): hash chain broken" in result.output
    assert f"row {row.candidate}: results.tsv disagrees with its record on status" in result.output


def test_audit_reports_a_deleted_row_and_an_altered_snapshot(suite, tmp_path):
    _, folder, _, _ = suite
    copy = tmp_path / "deleted"
    shutil.copytree(folder, copy, symlinks=True)
    log = copy / "results.tsv"
    lines = log.read_text().splitlines(keepends=True)
    gone = RunLog(log).rows()[2]
    log.write_text("".join(lines[:3] + lines[4:]))
    (copy / "candidates" / "0000" / "surface" / "heart" / "knobs.yaml").write_text("lr: 9\n")
    result = CliRunner().invoke(main, ["audit", str(copy), "--no-images"])
    assert result.exit_code == 1
    assert "results.tsv:4" in result.output and "hash chain broken" in result.output
    assert f"candidate {gone.candidate}: has a record but no row" in result.output
    assert "row 0000: the surface snapshot on disk no longer hashes" in result.output


def test_scalar_policy_stops_code_attacks_at_the_gate(sandbox, data_root, tmp_path):
    result = CliRunner().invoke(main, ["policy", "review", "scalar-hpo", "--task", "synthetic", "--attacks",
                                       "--only", "write-data,net-dns,params-cap", "--runs-dir", str(tmp_path),
                                       "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    assert "3 attacks, 3 blocked, 0 scored, host and data unchanged" in result.output
    verdicts = result.output.split("Attack suite against scalar-hpo on synthetic")[1]  # the review's own section
    assert verdicts.count("by gate (surface)") == 3
    assert "Task synthetic: a candidate may replace 1 file(s)" in result.output


def test_a_policy_asking_for_runsc_fails_clearly_where_the_engine_lacks_it(sandbox):
    from afr_box.policies.schema import load_policy
    from afr_box.sandbox.errors import SandboxError
    from afr_box.sandbox.provider import Requirements

    # an engine with gVisor is asked for a runtime it surely lacks: the refusal is the same
    runtime = "runsc" if "runsc" not in sandbox.executor.runtimes() else "afr-no-such-runtime"
    policy = load_policy("architecture-open")
    policy = policy.model_copy(update={"container": policy.container.model_copy(update={"runtime": runtime})})
    with pytest.raises(SandboxError, match=f"asks for container runtime '{runtime}'.*install it"):
        sandbox.executor.preflight(Requirements(runtime=policy.container.runtime))
