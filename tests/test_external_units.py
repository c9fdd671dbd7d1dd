"""The external agent's pieces that need no engine: the snapshot `try` takes, `check`'s verdict on
each kind of mistake, literature mode's sources, the candidate budget, signals during `try`, and
the program and contract a workspace is given."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from afr_box.orchestrator.external.check import check_text, check_workspace
from afr_box.orchestrator.external.interrupt import Interrupted, deferred, interruptible
from afr_box.orchestrator.external.snapshot import snapshot_surface
from afr_box.orchestrator.external.workspace import Workspace, example_path, program_facts
from afr_box.orchestrator.gate.document import contract_markdown
from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.orchestrator.proposers.agent.program import render_program
from afr_box.orchestrator.records.files import write_json
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, save
from afr_box.policies.schema import load_policy, policy_path
from afr_box.profiles.schema import load_profile, profile_path
from afr_box.tasks.shared.hashing import sha256_file


def make_workspace(tmp_path: Path, task: str = "heart", policy: str = "architecture-open",
                   max_candidates=None) -> Workspace:
    """A workspace on a campaign folder written by hand (no base image needed for these checks)."""
    campaign = CampaignFolder(tmp_path / "runs" / "c")
    campaign.path.mkdir(parents=True)
    save(CampaignMeta(name="c", task=task, proposer="external", max_candidates=max_candidates,
                      profile_sha256=sha256_file(profile_path(task)), policy=policy,
                      policy_sha256=sha256_file(policy_path(policy)), base_image_id="sha256:x"), campaign.meta)
    campaign.profile.write_text(profile_path(task).read_text())
    campaign.policy.write_text(policy_path(policy).read_text())
    ws = Workspace(tmp_path / "ws", campaign.path, tmp_path / "data")
    baseline_snapshot(task, load_policy(policy), ws.surface)
    return ws


# --------------------------------------------------------------------------- the snapshot


def test_the_snapshot_is_a_copy_that_later_edits_do_not_reach(tmp_path):
    ws = make_workspace(tmp_path)
    snap = snapshot_surface(ws.surface, tmp_path / "snap")
    assert snap.refused is None and snap.taken_at.endswith("Z")
    knobs = ws.surface / "heart" / "knobs.yaml"
    before = (snap.folder / "heart" / "knobs.yaml").read_text()
    knobs.write_text("lr: 0.5\n")
    assert (snap.folder / "heart" / "knobs.yaml").read_text() == before != knobs.read_text()


@pytest.mark.parametrize("make, expected", [
    (lambda s: os.symlink("/etc/passwd", s / "heart" / "notes.txt"), "is a symlink"),
    (lambda s: os.link(s / "heart" / "knobs.yaml", s / "heart" / "again.yaml"), "is a hardlink"),
    (lambda s: os.mkfifo(s / "heart" / "pipe"), "is a fifo"),
])
def test_a_snapshot_holding_a_link_or_a_fifo_is_refused_with_the_gates_words(tmp_path, make, expected):
    ws = make_workspace(tmp_path)
    make(ws.surface)
    snap = snapshot_surface(ws.surface, tmp_path / "snap")
    assert snap.refused[0] == "file-types" and expected in snap.refused[1]
    assert not any(snap.folder.iterdir())  # nothing copied


def test_a_huge_file_is_refused_without_being_read(tmp_path):
    ws = make_workspace(tmp_path)
    with open(ws.surface / "heart" / "big.bin", "wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: 200 MB that would take a while to read
    start = time.monotonic()
    snap = snapshot_surface(ws.surface, tmp_path / "snap")
    assert snap.refused[0] == "limits" and time.monotonic() - start < 2


# --------------------------------------------------------------------------- check


def test_check_names_a_syntax_error_a_contract_break_and_a_forbidden_path_at_once(tmp_path):
    ws = make_workspace(tmp_path)
    client = ws.surface / "heart" / "client.py"
    client.write_text(client.read_text().replace("ParamsType.DIFF", "ParamsType.FULL"))
    (ws.surface / "heart" / "models.py").write_text("def build_model(:\n")
    (ws.surface / "heart" / "bridge.py").write_text("# the data bridge is fixed\n")
    verdict = check_workspace(ws)
    by = {c["check"]: c for c in verdict["checks"]}
    assert not verdict["ok"] and verdict["surface_hash"] == ""
    assert by["surface"]["verdict"] == "FAIL" and "heart/bridge.py: outside the policy surface" in by["surface"]["detail"]
    assert by["text"]["verdict"] == "FAIL" and "heart/models.py:1: SyntaxError" in by["text"]["detail"]
    assert by["contract"]["verdict"] == "FAIL" and "DIFF" in by["contract"]["detail"]
    assert by["knobs"]["verdict"] == "pass"
    assert by["limits"]["verdict"] == "FAIL"  # 8 files: the bridge is one too many as well
    text = check_text(verdict)
    assert "nothing was built" in text and text.count("FAIL") == 4


def test_check_passes_the_baseline_and_gives_the_hash_try_would_build(tmp_path):
    from afr_box.orchestrator.gate.surface import surface_hash

    ws = make_workspace(tmp_path)
    verdict = check_workspace(ws)
    assert verdict["ok"] and all(c["verdict"] == "pass" for c in verdict["checks"])
    assert verdict["surface_hash"] == surface_hash(ws.surface)


def test_check_of_a_linked_file_says_so_and_skips_the_rest(tmp_path):
    ws = make_workspace(tmp_path)
    os.symlink("/work", ws.surface / "heart" / "models2.py")
    verdict = check_workspace(ws)
    first = verdict["checks"][0]
    assert first["check"] == "file-types" and first["verdict"] == "FAIL" and "symlink" in first["detail"]
    assert {c["verdict"] for c in verdict["checks"][1:]} == {"skipped"}


# --------------------------------------------------------------------------- literature, budget


def rows(*statuses):
    from afr_box.orchestrator.records.runlog import Row

    out = []
    for i, status in enumerate(statuses):
        cand = f"L{i:03d}" if status == "literature" else f"{i:04d}"
        out.append(Row(commit="", score=0.5 if status in ("keep", "discard") else None, runtime_seconds=1,
                       budget="b", status=status, target="heart", description="d", artifacts=f"candidates/{cand}",
                       candidate=cand, image_id="", surface_hash="", policy="p", seed=42,
                       proposer="baseline" if i == 0 else "external"))
    return out


def test_literature_mode_requires_a_source(tmp_path):
    from afr_box.orchestrator.errors import CampaignError
    from afr_box.orchestrator.external.attempt import _check_allowed
    from afr_box.orchestrator.external.literature import LITERATURE_FILE, source_required

    ws = make_workspace(tmp_path)  # heart: plateau_threshold 5
    calm = rows("keep", "discard")
    assert source_required(ws, calm) is None
    _check_allowed(ws, calm, [])
    stalled = rows("keep", *["discard"] * 5)
    assert "PLATEAU" in source_required(ws, stalled)
    with pytest.raises(CampaignError, match="literature mode .* afr-box try --source"):
        _check_allowed(ws, stalled, [])
    _check_allowed(ws, stalled, ["arXiv:1812.06127"])
    assert "literature event L002" in source_required(ws, rows("keep", "discard", "literature"))
    ws.folder.mkdir(parents=True, exist_ok=True)
    write_json(ws.folder / LITERATURE_FILE, {"started_epoch": 0})
    assert source_required(ws, calm) == "a literature event is in progress"


def test_the_candidate_budget_is_refused_once_spent(tmp_path):
    from afr_box.orchestrator.errors import CampaignError
    from afr_box.orchestrator.external.attempt import _check_allowed

    ws = make_workspace(tmp_path, max_candidates=3)
    _check_allowed(ws, rows("keep", "discard"), [])
    with pytest.raises(CampaignError, match="budget of 3 candidates is spent"):
        _check_allowed(ws, rows("keep", "discard", "rejected"), [])


def test_a_workspace_takes_its_campaigns_own_profile_and_refuses_an_edited_one(tmp_path):
    """A campaign started with a profile variant (`campaign --profile`, e.g. fewer rounds) keeps
    it in its folder: a workspace on that campaign uses it, not the shipped profile."""
    from afr_box.orchestrator.errors import CampaignError

    ws = make_workspace(tmp_path)
    variant = profile_path("heart").read_text().replace("rounds: 15", "rounds: 3")
    assert variant != profile_path("heart").read_text()
    ws.campaign.profile.write_text(variant)
    meta = ws.meta.model_copy(update={"profile_sha256": sha256_file(ws.campaign.profile)})
    save(meta, ws.campaign.meta)
    profile, policy, _ = ws.profile_policy()
    assert profile.budget.rounds == 3 and policy.name == "architecture-open"
    ws.campaign.profile.write_text(variant.replace("rounds: 3", "rounds: 30"))
    with pytest.raises(CampaignError, match=r"profile.yaml changed since campaign c started \(profile_sha256\)"):
        ws.profile_policy()


# --------------------------------------------------------------------------- signals


def test_sigterm_inside_try_raises_so_cleanup_runs():
    cleaned = []
    # What was there before (not necessarily SIG_DFL: a Ray test earlier in this worker installs its own).
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as stop:
        with interruptible():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            finally:
                cleaned.append(True)
    assert cleaned and stop.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before  # put back


def test_a_signal_while_a_row_is_logged_waits_for_the_row():
    logged = []
    with pytest.raises(Interrupted):
        with interruptible():
            with deferred():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.1)
                logged.append("row")
    assert logged == ["row"]


# --------------------------------------------------------------------------- the program


@pytest.mark.parametrize("policy", ["scalar-hpo", "architecture-open"])
def test_the_programs_example_path_is_writable_under_its_policy(tmp_path, policy):
    from afr_box.orchestrator.gate.checks import glob_matches

    ws = make_workspace(tmp_path, policy=policy)
    facts = program_facts(ws, candidates="/campaign/candidates", restore_best="reset", long_note="LONG",
                          session_note="SESSION")
    text = render_program("external", load_profile("heart"), load_policy(policy), workspace=facts)
    globs = load_policy(policy).globs_for("heart")
    assert any(glob_matches(g, example_path(globs)) for g in globs)
    assert f"e.g. `surface/{example_path(globs)}`" in text
    for must in ("/campaign/candidates/<id>/", "train.log", "## Search space", "`lr`: 0.001 to 0.02 (log scale)",
                 "`local_steps`: 10 to 250 (integer)", "## Budget and when to stop", "try.log 2>&1 &", "LONG",
                 "SESSION", "refused without `--source`", "contract.md", "git diff", "afr-box check"):
        assert must in text, must


def test_contract_md_states_the_policy_and_the_gates_checks():
    text = contract_markdown(load_profile("heart"), load_policy("scalar-hpo"))
    assert "- `heart/knobs.yaml`" in text and "while flare.is_running():" in text
    assert "8. **knobs**" in text and "At most 1 files, 8192 bytes per file" in text
    assert "`local_steps`, when set, is an\ninteger within [1, 250]" in text
