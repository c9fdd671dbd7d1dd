"""The gate: a surface snapshot is checked on the host before any build; bad input is a
rejection with a reason naming the file and the rule, never an exception."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from afr_box.orchestrator.gate.checks import GateResult, bad_path_reason, gate_snapshot, glob_matches
from afr_box.policies.schema import Policy, load_policy
from afr_box.profiles.schema import load_profile
from afr_box.tasks.shared.layout import repo_file

KNOBS = "optimizer: sgd\nlr: 0.01\nlocal_steps: 100\n"

CLIENT = '''\
import nvflare.client as flare
from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.tasks.shared import site_env
from afr_box.tasks.heart.surface.models import build_model, evaluate, train


def main():
    flare.init()
    knobs = site_env.knobs()
    model = build_model(knobs)
    while flare.is_running():
        input_model = flare.receive()
        model.load_state_dict(input_model.params)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"accuracy": evaluate(model)}))
            continue
        steps, diff = train(model, knobs)
        flare.send(FLModel(params=diff, params_type=ParamsType.DIFF,
                           meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}))


main()
'''

JOB = '''\
from nvflare.app_opt.pt.recipes import FedAvgRecipe


def build_recipe(budget, knobs):
    return FedAvgRecipe(name="heart", min_clients=budget["clients"], num_rounds=budget["rounds"],
                        train_script="heart/client.py")
'''


@pytest.fixture(scope="module")
def heart():
    return load_profile("heart")


@pytest.fixture(scope="module")
def scalar():
    return load_policy("scalar-hpo")


@pytest.fixture(scope="module")
def open_policy():
    return load_policy("architecture-open")


def snapshot(root: Path, files: dict[str, str | bytes]) -> Path:
    snap = root / "snap"
    snap.mkdir(exist_ok=True)
    for rel, content in files.items():
        path = snap / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return snap


def rejected(result: GateResult, check: str, *fragments: str) -> str:
    assert isinstance(result, GateResult)
    assert not result.ok, result
    assert result.reason.startswith(f"{check}: "), result.reason
    assert "\n" not in result.reason
    for fragment in fragments:
        assert fragment in result.reason, result.reason
    assert result.checks[-1][:2] == (check, False)
    assert all(passed for _, passed, _ in result.checks[:-1])
    return result.reason


# --------------------------------------------------------------------------- passing snapshots


def test_a_scalar_hpo_knobs_file_passes(tmp_path, scalar, heart):
    result = gate_snapshot(snapshot(tmp_path, {"heart/knobs.yaml": KNOBS}), "heart", scalar, heart)
    assert result.ok and result.reason == ""
    assert [name for name, _, _ in result.checks] == [
        "file-types", "paths", "surface", "limits", "text", "startup-hooks", "contract", "knobs"]
    assert all(passed for _, passed, _ in result.checks)


def test_an_architecture_open_snapshot_with_client_and_job_passes(tmp_path, open_policy, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS, "heart/client.py": CLIENT, "heart/job.py": JOB,
                               "shared/aggregators.py": "class Median:\n    pass\n"})
    result = gate_snapshot(snap, "heart", open_policy, heart)
    assert result.ok, result.reason
    assert "heart/client.py" in dict((n, d) for n, _, d in result.checks)["contract"]


def test_an_empty_knobs_file_means_defaults(tmp_path, scalar, heart):
    assert gate_snapshot(snapshot(tmp_path, {"heart/knobs.yaml": ""}), "heart", scalar, heart).ok


# --------------------------------------------------------------------------- budget and knobs


def test_a_knobs_file_that_sets_rounds_is_rejected_naming_the_key(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS + "rounds: 100\n"})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "knobs", "heart/knobs.yaml", "'rounds'", "budget field")


@pytest.mark.parametrize("extra, key", [
    ("Num-Rounds: 3\n", "Num-Rounds"),
    ("server:\n  min_clients: 1\n", "server.min_clients"),
    ("seed: 7\n", "seed"),
])
def test_budget_fields_are_found_in_any_spelling_or_depth(tmp_path, scalar, heart, extra, key):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS + extra})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "knobs", f"'{key}'")


@pytest.mark.parametrize("steps", [0, 251, 10_000])
def test_local_steps_out_of_the_profile_bounds_is_rejected(tmp_path, scalar, heart, steps):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": f"optimizer: sgd\nlocal_steps: {steps}\n"})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "knobs", "local_steps", str(steps), "[1, 250]")


@pytest.mark.parametrize("value", ["100.5", "true", "'100'"])
def test_local_steps_must_be_an_integer(tmp_path, scalar, heart, value):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": f"local_steps: {value}\n"})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "knobs", "local_steps must be an integer")


@pytest.mark.parametrize("text, fragment", [
    ("- lr\n- 0.01\n", "must be a mapping"),
    ("lr: [0.01\n", "not valid YAML"),
    ("1: x\n", "knob names must be strings"),
])
def test_a_knobs_file_that_is_not_a_mapping_of_names_is_rejected(tmp_path, scalar, heart, text, fragment):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": text})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "knobs", "heart/knobs.yaml", fragment)


BOMB = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))


@pytest.mark.parametrize("text, fragment", [
    (KNOBS + "notes:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines()), "more than 8 aliases"),
    (KNOBS + "deep: " + "[" * 40 + "]" * 40 + "\n", "nested deeper than 32 levels"),
])
def test_a_knobs_file_is_loaded_with_alias_and_depth_limits(tmp_path, scalar, heart, text, fragment):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": text})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "knobs", "heart/knobs.yaml: YAML refused", fragment)


def test_reports_show_a_hostile_knobs_file_without_expanding_it(tmp_path):
    from afr_box.reports.analysis import change_between
    from afr_box.reports.campaign_report import _knobs

    bomb = snapshot(tmp_path, {"heart/knobs.yaml": BOMB}) / "heart" / "knobs.yaml"
    assert _knobs(bomb) == {"knobs.yaml": "not shown: more than 8 aliases (an alias bomb expands exponentially)"}
    assert change_between(tmp_path / "none", bomb.parent.parent).knobs == {}


def test_a_snapshot_without_the_knobs_file_is_rejected(tmp_path, open_policy, heart):
    snap = snapshot(tmp_path, {"heart/client.py": CLIENT})
    rejected(gate_snapshot(snap, "heart", open_policy, heart), "knobs", "heart/knobs.yaml: missing")


def test_an_empty_snapshot_is_rejected(tmp_path, scalar, heart):
    rejected(gate_snapshot(snapshot(tmp_path, {}), "heart", scalar, heart), "knobs", "missing")


# --------------------------------------------------------------------------- file types


def test_a_symlink_to_etc_is_rejected(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS})
    os.symlink("/etc", snap / "heart" / "etc")
    rejected(gate_snapshot(snap, "heart", scalar, heart), "file-types", "heart/etc", "symlink")


def test_a_knobs_file_that_is_a_symlink_is_rejected(tmp_path, scalar, heart):
    (tmp_path / "real.yaml").write_text(KNOBS)
    snap = snapshot(tmp_path, {})
    (snap / "heart").mkdir()
    os.symlink(tmp_path / "real.yaml", snap / "heart" / "knobs.yaml")
    rejected(gate_snapshot(snap, "heart", scalar, heart), "file-types", "heart/knobs.yaml", "symlink")


def test_a_symlinked_snapshot_root_is_rejected(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS})
    os.symlink(snap, tmp_path / "link")
    rejected(gate_snapshot(tmp_path / "link", "heart", scalar, heart), "file-types", "symlink")


def test_a_hardlink_is_rejected(tmp_path, scalar, heart):
    outside = tmp_path / "labels.csv"
    outside.write_text("lr: 0.01\n")
    snap = snapshot(tmp_path, {})
    (snap / "heart").mkdir()
    os.link(outside, snap / "heart" / "knobs.yaml")
    rejected(gate_snapshot(snap, "heart", scalar, heart), "file-types", "heart/knobs.yaml", "hardlink")


def test_a_fifo_is_rejected(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS})
    os.mkfifo(snap / "heart" / "pipe")
    rejected(gate_snapshot(snap, "heart", scalar, heart), "file-types", "heart/pipe", "fifo")


def test_a_missing_snapshot_is_a_rejection_not_an_error(tmp_path, scalar, heart):
    rejected(gate_snapshot(tmp_path / "nowhere", "heart", scalar, heart), "file-types", "cannot be read")


# --------------------------------------------------------------------------- names and surface


@pytest.mark.parametrize("name", ["-rf.yaml", "kno bs.yaml", "knobs\n.yaml", "kn\u00f6bs.yaml", "a;b.yaml"])
def test_an_odd_file_name_is_rejected(tmp_path, scalar, heart, name):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS})
    (snap / "heart" / name).write_text("x: 1\n")
    rejected(gate_snapshot(snap, "heart", scalar, heart), "paths")


def test_a_file_name_with_undecodable_bytes_is_rejected(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS})
    with open(os.path.join(os.fsencode(snap / "heart"), b"\xff.yaml"), "w") as fh:
        fh.write("x: 1\n")
    rejected(gate_snapshot(snap, "heart", scalar, heart), "paths")


@pytest.mark.parametrize("rel", ["/etc/passwd", "heart/../x", "heart//x", "./x", "", "heart/-x"])
def test_unclean_relative_paths_are_named(rel):
    assert bad_path_reason(rel)


def test_clean_relative_paths_pass():
    assert bad_path_reason("heart/knobs.yaml") is None
    assert bad_path_reason("shared/aggregators.py") is None


def test_a_file_outside_the_policy_is_rejected(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS, "heart/bridge.py": "X = 1\n"})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "surface", "heart/bridge.py", "outside the policy")


def test_another_tasks_files_are_outside_the_policy(tmp_path, open_policy, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS, "synthetic/knobs.yaml": KNOBS})
    rejected(gate_snapshot(snap, "heart", open_policy, heart), "surface", "synthetic/knobs.yaml")


def test_an_empty_directory_is_rejected(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS})
    (snap / "heart" / "extra").mkdir()
    rejected(gate_snapshot(snap, "heart", scalar, heart), "surface", "heart/extra/")


def test_policy_wildcards_do_not_cross_directories():
    assert glob_matches("heart/*.py", "heart/client.py")
    assert not glob_matches("heart/*.py", "heart/sub/client.py")
    assert not glob_matches("*", "heart/knobs.yaml")


# --------------------------------------------------------------------------- start-up hooks


LOOSE = Policy(name="loose", description="test policy allowing any task file",
               surface=["{task}/*", "shared/*"])


@pytest.mark.parametrize("rel", ["heart/sitecustomize.py", "shared/usercustomize.py", "heart/evil.pth",
                                 "heart/SiteCustomize.py"])
def test_python_start_up_hooks_are_rejected_even_when_a_glob_allows_them(tmp_path, heart, rel):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS, rel: "import os\n"})
    rejected(gate_snapshot(snap, "heart", LOOSE, heart), "startup-hooks", rel, "forbidden name")


def test_sitecustomize_under_a_narrow_policy_is_outside_the_surface(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS, "heart/sitecustomize.py": "import os\n"})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "surface", "heart/sitecustomize.py")


# --------------------------------------------------------------------------- limits and text


def test_a_huge_file_is_rejected(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS + "# " + "x" * 10_000 + "\n"})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "limits", "heart/knobs.yaml", "8192")


def test_too_many_files_are_rejected(tmp_path, open_policy, heart):
    files = {"heart/knobs.yaml": KNOBS, "heart/client.py": CLIENT, "heart/job.py": JOB,
             "heart/models.py": "X = 1\n", "shared/aggregators.py": "X = 1\n"}
    policy = open_policy.model_copy(update={"limits": open_policy.limits.model_copy(update={"max_files": 4})})
    rejected(gate_snapshot(snapshot(tmp_path, files), "heart", policy, heart), "limits", "5 files", "at most 4")


def test_a_syntax_error_is_rejected_with_the_file_and_line(tmp_path, open_policy, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS,
                               "heart/models.py": "import torch\n\ndef build(:\n    pass\n"})
    rejected(gate_snapshot(snap, "heart", open_policy, heart), "text", "heart/models.py:3:", "SyntaxError")


def test_python_is_compiled_never_run(tmp_path, open_policy, heart):
    marker = tmp_path / "ran"
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS,
                               "heart/models.py": f"open({str(marker)!r}, 'w').write('x')\n"})
    assert gate_snapshot(snap, "heart", open_policy, heart).ok
    assert not marker.exists()


def test_a_non_utf8_file_is_rejected(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": b"optimizer: sgd\nlr: \xff0.01\n"})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "text", "heart/knobs.yaml", "not UTF-8")


def test_a_file_with_nul_bytes_is_rejected(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": b"lr: 0.01\x00\n"})
    rejected(gate_snapshot(snap, "heart", scalar, heart), "text", "NUL")


# --------------------------------------------------------------------------- contract


def test_a_client_that_sends_the_full_model_is_rejected(tmp_path, open_policy, heart):
    client = CLIENT.replace("ParamsType.DIFF", "ParamsType.FULL")
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS, "heart/client.py": client})
    rejected(gate_snapshot(snap, "heart", open_policy, heart), "contract", "heart/client.py:", "ParamsType.DIFF")


def test_a_job_that_hard_codes_rounds_is_rejected(tmp_path, open_policy, heart):
    job = JOB.replace('num_rounds=budget["rounds"]', "num_rounds=100")
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS, "heart/job.py": job})
    rejected(gate_snapshot(snap, "heart", open_policy, heart), "contract", "heart/job.py:", "num_rounds=100")


# --------------------------------------------------------------------------- the repository's own surface



@pytest.mark.parametrize("policy_name", ["scalar-hpo", "architecture-open"])
def test_the_baseline_heart_surface_passes_its_own_gate(tmp_path, heart, policy_name):
    policy = load_policy(policy_name)
    files = {rel: repo_file(rel).read_bytes() for rel in
             ["heart/knobs.yaml", "heart/client.py", "heart/job.py", "heart/models.py", "shared/aggregators.py"]
             if any(glob_matches(g, rel) for g in policy.globs_for("heart"))}
    result = gate_snapshot(snapshot(tmp_path, files), "heart", policy, heart)
    assert result.ok, result.reason


# --------------------------------------------------------------------------- what is built is what was gated


def test_a_sparse_file_is_refused_from_its_size_before_a_byte_is_read(tmp_path, scalar, heart):
    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS})
    os.truncate(snap / "heart" / "knobs.yaml", 64 * 2**30)  # 64 GiB, a few blocks on disk
    assert (snap / "heart" / "knobs.yaml").stat().st_blocks * 512 < 2**20
    reason = rejected(gate_snapshot(snap, "heart", scalar, heart), "limits", "heart/knobs.yaml", "68719476736 bytes")
    assert "allocated" not in reason


def test_space_allocated_beyond_a_files_size_counts_too(tmp_path, scalar, heart):
    import subprocess

    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS})
    # 32 MiB preallocated past the end (FALLOC_FL_KEEP_SIZE): the size stays that of the text
    subprocess.run(["fallocate", "--keep-size", "-l", str(32 * 2**20), str(snap / "heart" / "knobs.yaml")], check=True)
    assert (snap / "heart" / "knobs.yaml").stat().st_size == len(KNOBS)
    rejected(gate_snapshot(snap, "heart", scalar, heart), "limits", "heart/knobs.yaml", "allocated on disk")


def test_the_gate_hands_on_the_bytes_it_checked_with_edits_applied_in_memory(tmp_path, open_policy, heart):
    from afr_box.orchestrator.gate.surface import surface_hash, working_copy, write_private_copy

    snap = snapshot(tmp_path, {"heart/knobs.yaml": KNOBS, "heart/client.py": CLIENT})
    result = gate_snapshot(snap, "heart", open_policy, heart, edits={"heart/job.py": JOB})
    assert result.ok, result.reason
    assert result.files == {"heart/knobs.yaml": KNOBS.encode(), "heart/client.py": CLIENT.encode(),
                            "heart/job.py": JOB.encode()}
    assert not (snap / "heart" / "job.py").exists()  # the proposal is never written to
    copy = write_private_copy(tmp_path / "record" / "surface", result.files)
    assert surface_hash(copy) == result.surface_hash
    assert {oct(p.stat().st_mode & 0o777) for p in copy.rglob("*") if p.is_file()} == {"0o444"}
    assert {oct(p.stat().st_mode & 0o777) for p in [copy, *copy.rglob("*")] if p.is_dir()} == {"0o555"}
    work = working_copy(copy, tmp_path / "work")  # a proposer starts again from a kept candidate: writable
    (work / "heart" / "knobs.yaml").write_text("lr: 2\n")
    assert surface_hash(copy) == result.surface_hash


def test_the_build_context_holds_exactly_the_gated_bytes():
    import io
    import tarfile

    from afr_box.sandbox.images import candidate_context

    files = {"heart/knobs.yaml": b"lr: 1\n", "shared/aggregators.py": b"X = 1\n"}
    context = candidate_context(files)
    assert candidate_context(dict(reversed(files.items()))) == context  # deterministic
    with tarfile.open(fileobj=io.BytesIO(context)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["Dockerfile.candidate", "surface", "surface/heart", "surface/heart/knobs.yaml",
                                   "surface/shared", "surface/shared/aggregators.py"]
        assert tar.extractfile("surface/heart/knobs.yaml").read() == b"lr: 1\n"
        assert {m.mode for m in members.values() if m.isfile()} == {0o644} and {m.uid for m in members.values()} == {0}
