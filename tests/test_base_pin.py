"""The base image holds only what runs inside containers: host-side edits leave its id alone, and
a campaign pinned to one base is not continued on another."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from afr_box.orchestrator.campaign.identity import check_base, check_same
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.records.models import CampaignMeta
from afr_box.sandbox.images import HARNESS_SOURCES, REPO_ROOT, harness_digest, harness_files
from afr_box.sandbox.provider import ImageInfo


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    for folder in ("orchestrator", "sandbox", "tasks", "reports", "profiles", "policies"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Dockerfile.base", "setup.py", "pyproject.toml"):
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def _edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")


def test_host_side_edits_leave_the_base_alone(repo_copy):
    before = harness_digest(repo_copy)
    assert before == harness_digest(REPO_ROOT)
    for host_file in ("reports/templates/report.md.j2", "orchestrator/cli/campaign.py", "sandbox/docker/executor.py",
                      "policies/scalar-hpo.yaml", "profiles/heart.yaml", "pyproject.toml"):
        _edit(repo_copy / host_file)
    assert harness_digest(repo_copy) == before


@pytest.mark.parametrize("harness_file", ["sandbox/harness/runner.py", "tasks/heart/bridge.py",
                                          "tasks/shared/metrics/classification.py", "Dockerfile.base"])
def test_an_in_container_edit_changes_the_base(repo_copy, harness_file):
    before = harness_files(repo_copy)
    _edit(repo_copy / harness_file)
    after = harness_files(repo_copy)
    assert [k for k in after if after[k] != before.get(k)] == [harness_file]
    assert tree_differs(before, after)


def tree_differs(a, b) -> bool:
    from afr_box.tasks.shared.hashing import tree_digest

    return tree_digest(a) != tree_digest(b)


def test_the_base_holds_the_harness_and_the_task_code_only():
    files = harness_files()
    assert HARNESS_SOURCES == ("sandbox/__init__.py", "sandbox/harness", "tasks")
    assert not any(k.startswith(("orchestrator/", "reports/", "security/", "sandbox/docker/", "sandbox/ray/"))
                   for k in files)
    assert "sandbox/harness/scorer.py" in files and "tasks/shared/metrics/__init__.py" in files


def _meta(**update) -> CampaignMeta:
    base = dict(name="c", task="heart", proposer="hpo", seed=0, max_candidates=8, profile_sha256="p",
                policy="scalar-hpo", policy_sha256="q", base_image_id="sha256:aaa", harness_files=harness_files())
    return CampaignMeta(**{**base, **update})


def test_a_campaign_on_another_base_is_refused_naming_what_changed():
    files = harness_files()
    meta = _meta(harness_files={**files, "sandbox/harness/infer.py": "0" * 64})
    base = ImageInfo(id="sha256:bbb", tags=[], labels={}, layers=[], size=0)
    with pytest.raises(CampaignError, match=r"cannot resume c: .*harness files changed since it started: "
                                            r"sandbox/harness/infer.py"):
        check_base(meta, base, "resume")
    check_base(_meta(base_image_id="sha256:bbb"), base, "resume")  # the same base: fine


def test_resume_settings_default_to_the_campaigns_and_differences_need_force():
    meta = _meta(proposer="hpo", seed=3, max_candidates=10)
    same = dict(profile_sha256="p", policy="scalar-hpo", policy_sha256="q")
    got = check_same(meta, **same, settings={"proposer": None, "seed": None, "max_candidates": None,
                                              "agent_model": None}, force=False)
    assert got == {"proposer": "hpo", "seed": 3, "max_candidates": 10, "agent_model": None}
    with pytest.raises(CampaignError, match=r"proposer 'hpo' -> 'claude'; max_candidates 10 -> 20 differ"):
        check_same(meta, **same, settings={"proposer": "claude", "seed": None, "max_candidates": 20,
                                            "agent_model": None}, force=False)
    got = check_same(meta, **same, settings={"proposer": None, "seed": None, "max_candidates": 20,
                                              "agent_model": None}, force=True)
    assert got["max_candidates"] == 20
    with pytest.raises(CampaignError, match="policy_sha256 changed since it started"):
        check_same(meta, profile_sha256="p", policy="scalar-hpo", policy_sha256="other",
                   settings={"proposer": None, "seed": None, "max_candidates": None, "agent_model": None}, force=True)


def test_resume_without_policy_takes_the_campaigns_and_another_is_refused(tmp_path):
    """A campaign started with --policy architecture-open (heart's default is scalar-hpo) resumes
    without --policy: the settings check passes (the run then stops at the missing data, before
    anything runs); naming another policy is refused, saying so."""
    from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
    from afr_box.orchestrator.records.models import save
    from afr_box.policies.schema import policy_path
    from afr_box.profiles.schema import profile_path
    from afr_box.tasks.shared.hashing import sha256_file
    from afr_box.tasks.shared.prepared import DataNotPreparedError

    folder = tmp_path / "runs" / "open"
    folder.mkdir(parents=True)
    save(_meta(name="open", policy="architecture-open", policy_sha256=sha256_file(policy_path("architecture-open")),
               profile_sha256=sha256_file(profile_path("heart"))), folder / "campaign.json")
    opts = dict(task="heart", name="open", resume=True, runs_dir=tmp_path / "runs", data_root=tmp_path / "no-data")
    with pytest.raises(DataNotPreparedError):
        run_campaign(CampaignOptions(**opts))
    with pytest.raises(CampaignError, match=r"policy changed since it started \(architecture-open -> scalar-hpo\)"):
        run_campaign(CampaignOptions(policy="scalar-hpo", **opts))
