"""Security pieces that need no engine: the attack definitions, output checks, edits, policy review/diff."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from afr_box.orchestrator.gate.checks import gate_snapshot
from afr_box.orchestrator.gate.surface import apply_edits
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile
from afr_box.sandbox.outputs import check_outputs
from afr_box.security.attacks import AttackSuiteError, default_suite, load_attack, load_suite
from afr_box.security.policy_diff import diff
from afr_box.security.policy_review import render, review

GATE_ATTACKS = ["symlink-etc", "symlink-scorer", "hardlink", "odd-bytes-name", "huge-file", "sitecustomize", "pth-hook"]


# Exactly the suite's folders, in run order: an attack added, removed or renamed must show up here
# (and in the README's summary line, which the CI run prints).
SUITE = ["write-data", "write-harness", "write-outside-out", "read-labels", "forge-score", "forge-predictions",
         "symlink-out", "net-tcp", "net-udp", "net-dns", "job-rounds", "job-clients", "params-cap", "timeout",
         "fork-bomb", "memory-bomb", "fill-tmp", "fill-out", "background-process", "symlink-etc", "symlink-scorer",
         "hardlink", "dotdot-path", "absolute-path", "odd-bytes-name", "huge-file", "setuid-caps",
         "monkeypatch-harness", "proc-sys-write", "sitecustomize", "pth-hook", "env-tricks", "ptrace-runner",
         "int8-weights", "xss-report", "terminal-escapes", "forged-error-text", "non-utf8-out-name", "inode-flood",
         "sparse-proposal", "yaml-alias-bomb", "log-flood", "gate-build-swap", "io-uring", "ptrace-traceme",
         "kernel-surface", "round-metrics-nan", "round-metrics-oversized", "zombie-leader",
         "read-other-sites", "server-reads-sites", "job-reads-sites", "local-compute-10x",
         "aggregator-doubles-rounds", "sites-pool-through-tmp", "sites-pool-through-own-folders",
         "sites-pool-over-local-channels"]


def test_the_suite_covers_the_threat_model():
    attacks = load_suite(default_suite())
    assert [a.name for a in attacks] == SUITE
    assert sorted(p.name for p in default_suite().iterdir() if p.is_dir()) == \
        [f"{i:02d}-{name}" for i, name in enumerate(SUITE, start=1)]
    assert {a.threat for a in attacks} == {"modify the data", "modify anything outside its surface", "see test labels",
                                           "change the score or how it is computed", "reach the network",
                                           "change its budget", "starve the host", "hide what it did",
                                           "escape the sandbox",
                                           "attack whoever reads the results", "run code the gate never saw", "pool the sites' data",
                                           "forge what the report shows"}
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"{len(SUITE)} attacks, {len(SUITE)} blocked, 0 scored, host and data unchanged" in readme


@pytest.mark.parametrize("name", GATE_ATTACKS)
def test_layout_attacks_are_rejected_by_the_gate(name, tmp_path):
    attack = next(a for a in load_suite(default_suite()) if a.name == name)
    policy, profile = load_policy("architecture-open"), load_profile("heart")
    snap, edits = attack.build("heart", policy, tmp_path / "snap")
    assert edits == {}
    result = gate_snapshot(snap, "heart", policy, profile)
    assert not result.ok
    blocked, by = attack.verdict("rejected", f"gate: {result.reason}")
    assert blocked and by.startswith("gate (")


@pytest.mark.parametrize("name", ["dotdot-path", "absolute-path"])
def test_path_attacks_are_refused_before_anything_is_written(name, tmp_path):
    attack = next(a for a in load_suite(default_suite()) if a.name == name)
    snap, edits = attack.build("heart", load_policy("architecture-open"), tmp_path / "snap")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    reason = apply_edits(snap, edits)
    assert reason and ("'..'" in reason or "absolute path" in reason)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_edits_never_write_through_a_symlinked_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    snap = tmp_path / "snap"
    snap.mkdir()
    os.symlink(outside, snap / "heart")
    assert "symlink" in apply_edits(snap, {"heart/knobs.yaml": "lr: 1\n"})
    assert not (outside / "knobs.yaml").exists()
    assert apply_edits(tmp_path / "clean", {"heart/knobs.yaml": "lr: 1\n"}) == ""
    assert (tmp_path / "clean" / "heart" / "knobs.yaml").read_text() == "lr: 1\n"


def test_payload_attacks_meet_the_gate_when_the_file_is_outside_the_surface(tmp_path):
    attack = next(a for a in load_suite(default_suite()) if a.name == "write-data")
    policy = load_policy("scalar-hpo")
    snap, _ = attack.build("heart", policy, tmp_path / "snap")
    result = gate_snapshot(snap, "heart", policy, load_profile("heart"))
    assert not result.ok and result.reason.startswith("surface: heart/job.py")


def test_verdict_needs_the_stated_reason():
    attack = next(a for a in load_suite(default_suite()) if a.name == "write-data")
    assert attack.verdict("crash", "train: job.py failed: SystemExit: ATTACK write-data blocked: [Errno 30]")[0]
    assert not attack.verdict("crash", "train: job.py failed: ImportError: no module named x")[0]
    blocked, by = attack.verdict("scored", "")
    assert not blocked and "NOT BLOCKED" in by


def test_malformed_attack_names_the_file_and_field(tmp_path):
    (tmp_path / "01-bad").mkdir()
    (tmp_path / "01-bad" / "attack.yaml").write_text("threat: x\ndescription: y\nexpect: [scored]\nreason: r\nblocked_by: b\n")
    with pytest.raises(AttackSuiteError, match=r"01-bad/attack.yaml: expect \['scored'\]"):
        load_attack(tmp_path / "01-bad")
    (tmp_path / "01-bad" / "attack.yaml").write_text("threat: x\n")
    with pytest.raises(AttackSuiteError, match="missing fields"):
        load_attack(tmp_path / "01-bad")
    with pytest.raises(AttackSuiteError, match="no attack suite"):
        load_suite(tmp_path / "nowhere")


def _outputs(tmp_path: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return tmp_path


def test_outputs_allow_only_the_harness_files(tmp_path):
    out = _outputs(tmp_path / "train", {"model.npz": b"x", "train_stats.json": b"{}"})
    assert check_outputs(out, "train", ["client_0"]) == ""
    (out / "score.json").write_text("{}")
    assert "unexpected file score.json" in check_outputs(out, "train", ["client_0"])
    infer = _outputs(tmp_path / "infer", {"predictions/client_0.npy": b"x", "infer_stats.json": b"{}"})
    assert check_outputs(infer, "infer", ["client_0"]) == ""
    (infer / "predictions" / "client_9.npy").write_bytes(b"x")
    assert "predictions/client_9.npy" in check_outputs(infer, "infer", ["client_0"])


def test_outputs_refuse_links_and_special_files(tmp_path):
    out = _outputs(tmp_path / "a", {"model.npz": b"x"})
    os.symlink("../../../etc/shadow", out / "train_stats.json")
    assert "train_stats.json is a symlink" in check_outputs(out, "train", [])
    out = _outputs(tmp_path / "b", {"model.npz": b"x"})
    os.link(out / "model.npz", tmp_path / "elsewhere")
    assert "hardlink" in check_outputs(out, "train", [])
    out = tmp_path / "c"
    out.mkdir()
    os.mkfifo(out / "score.json")
    assert "special file" in check_outputs(out, "score", [])


def test_policy_review_resolves_the_surface_and_shows_every_mount():
    data = review("scalar-hpo", ["heart"])
    assert data["tasks"]["heart"]["surface_files"] == ["heart/knobs.yaml"]
    score = data["tasks"]["heart"]["containers"]["score"]
    assert score["image"] == "<base image>" and any(m.startswith("/labels <-") for m in score["mounts"])
    train = data["tasks"]["heart"]["containers"]["train"]
    assert not any("labels" in m or "test_" in m for m in train["mounts"])
    assert [m for m in train["mounts"] if m.endswith("(rw)")] == ["/out <- <candidate record>/train (rw)"]
    text = render(data)
    assert "network none" in text and "cap_drop ['ALL']" in text and "fsize" in text


def test_policy_diff_names_what_opens_and_closes():
    d = diff("scalar-hpo", "architecture-open", ["heart"])
    assert "heart/client.py" in d["surface"]["heart"]["opens"] and not d["surface"]["heart"]["closes"]
    assert {"setting": "limits.max_files", "from": 1, "to": 7, "effect": "opens"} in d["limits"]
    back = diff("architecture-open", "scalar-hpo", ["heart"])
    assert "heart/job.py" in back["surface"]["heart"]["closes"]
    assert diff("scalar-hpo", "scalar-hpo", ["heart"]) == {"from": "scalar-hpo", "to": "scalar-hpo",
                                                          "surface": {}, "limits": []}


def test_report_takes_suite_verdicts_only_for_the_same_policy_file(tmp_path):
    import json

    from afr_box.orchestrator.records.models import CampaignMeta
    from afr_box.reports.campaign_report import _attack_suite

    campaign = tmp_path / "runs" / "c1"
    campaign.mkdir(parents=True)
    meta = CampaignMeta(name="c1", task="heart", proposer="hpo", profile_sha256="p", policy="architecture-open",
                        policy_sha256="aa", base_image_id="sha256:0")
    found, note = _attack_suite(campaign, meta, "heart")
    assert found is None and "afr-box policy review architecture-open --task heart --attacks" in note
    suite = tmp_path / "runs" / "attacks-architecture-open-heart"
    suite.mkdir()
    (suite / "attacks.json").write_text(json.dumps({"policy_sha256": "bb", "summary": "x"}))
    found, note = _attack_suite(campaign, meta, "heart")
    assert found is None and "another version of policy" in note
    (suite / "attacks.json").write_text(json.dumps({"policy_sha256": "aa", "summary": "1 attacks, 1 blocked"}))
    found, note = _attack_suite(campaign, meta, "heart")
    assert found["summary"] == "1 attacks, 1 blocked" and note == ""


def test_a_suite_run_replaces_only_its_own_previous_run(tmp_path):
    """`policy review --attacks` regenerates runs/attacks-<policy>-<task>/ whole, but never deletes a
    folder of another kind there, nor a suite run someone is running now."""
    import json

    from afr_box.orchestrator.records.layout import CampaignFolder
    from afr_box.orchestrator.records.owner import in_use
    from afr_box.security.suite import SuiteError, _replace_previous_run

    folder = CampaignFolder(tmp_path / "attacks-architecture-open-heart")
    _replace_previous_run(folder)  # nothing there yet: made
    assert folder.path.is_dir()
    (folder.path / "campaign.json").write_text(json.dumps({"kind": "attack-suite"}))
    (folder.path / "old.txt").write_text("x")
    _replace_previous_run(folder)  # a previous suite run: replaced
    assert list(folder.path.iterdir()) == []
    (folder.path / "campaign.json").write_text(json.dumps({"kind": "attack-suite"}))
    with in_use(folder.path), pytest.raises(SuiteError, match="is using .* now"):
        _replace_previous_run(folder)
    (folder.path / "campaign.json").write_text(json.dumps({"name": "my campaign", "task": "heart"}))
    with pytest.raises(SuiteError, match="is not an attack-suite record: it is left alone"):
        _replace_previous_run(folder)
    assert (folder.path / "campaign.json").is_file()


def test_the_inert_check_reads_the_records_as_they_lie_on_disk(tmp_path):
    from afr_box.orchestrator.records.runlog import COLUMNS, HEADER
    from afr_box.security.inert import record_problems, report_problems

    cells = {c: "" for c in COLUMNS}
    cells.update(candidate="0001", description="ATTACK \x1b]0;PWNED\x07", reason="E" * 5000,
                 score="", runtime_seconds="1.0", seed="42", status="crash")
    (tmp_path / "results.tsv").write_text(HEADER + "\t".join(cells[c] for c in COLUMNS) + "\n")
    record = tmp_path / "candidates" / "0001"
    record.mkdir(parents=True)
    (record / "record.json").write_text('{"description": "ok", "reason": "\\u001b[2J"}')
    (record / "train.log").write_bytes(b"x" * 2000)
    assert record_problems(tmp_path, "0001", log_limit=1000) == [
        "results.tsv: its description is not inert (control characters)",
        "results.tsv: its reason is not inert (5000 characters)",
        "record.json: its reason is not inert (control characters)",
        "train.log: 2000 bytes > log_size 1000"]
    cells.update(description="ok", reason='x <img src=x onerror="alert(1)"> <td> y')
    (tmp_path / "results.tsv").write_text(HEADER + "\t".join(cells[c] for c in COLUMNS) + "\n")
    (tmp_path / "report.html").write_text('<td>x <img src=x onerror="alert(1)"> y</td>')
    assert report_problems(tmp_path, "0001") == ['report.html renders markup from its text: <img src=x onerror="alert(1)">']
    (tmp_path / "report.html").write_text("<td>x &lt;img src=x onerror=&quot;alert(1)&quot;&gt; &lt;td&gt; y</td>")
    assert report_problems(tmp_path, "0001") == []


def test_sparse_and_after_gate_attacks_build_what_they_say(tmp_path):
    suite = {a.name: a for a in load_suite(default_suite())}
    snap, _ = suite["sparse-proposal"].build("heart", load_policy("architecture-open"), tmp_path / "snap")
    knobs = snap / "heart" / "knobs.yaml"
    assert knobs.stat().st_size == 64 * 2**30 and knobs.stat().st_blocks * 512 < 2**20
    swap = suite["gate-build-swap"].after_gate("heart")
    assert list(swap) == ["heart/job.py"] and "the swapped job.py runs" in swap["heart/job.py"]
