"""The local-compute bound's bookkeeping (orchestrator/pipeline/compute.py): which policies need it,
and a calibration made once per machine and budget, reused from the afr-box cache by the next
campaign. (The calibration run itself and the scorer holding a run to it: test_security_e2e,
test_sandbox_units.)"""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from afr_box.orchestrator.pipeline import compute
from afr_box.orchestrator.pipeline.compute import Calibration, ComputeBound, cache_file, calibration_key, runs_candidate_code
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile


def a_setup(policy: str, base: str = "sha256:base-a"):
    return SimpleNamespace(task="heart", profile=load_profile("heart"), policy=load_policy(policy),
                           base=SimpleNamespace(id=base))


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AFR_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def no_calibration(monkeypatch):
    """Fails the test if a baseline would be trained."""
    def refuse(self, setup, key):
        raise AssertionError("calibrated")
    monkeypatch.setattr(ComputeBound, "_calibrate", refuse)


def test_only_policies_that_change_code_run_candidate_code_in_the_clients():
    assert not runs_candidate_code("heart", load_policy("scalar-hpo"))  # the knobs file: data
    assert runs_candidate_code("heart", load_policy("architecture-open"))
    assert runs_candidate_code("heart", load_policy("scalar-hpo").model_copy(update={"surface": ["{task}/*"]}))


def test_a_knobs_only_policy_holds_no_bound_and_trains_nothing_for_it(tmp_path, no_calibration):
    said = []
    assert ComputeBound(tmp_path / "c").for_run(a_setup("scalar-hpo"), said.append) is None
    [entry] = json.loads((tmp_path / "c" / "compute.json").read_text())
    assert entry["bound_s"] is None and entry["how"].startswith("not needed: policy scalar-hpo")
    assert said == [] and not cache_file(entry["key"]).exists()


def test_a_calibration_is_reused_from_the_machine_cache_by_the_next_campaign(tmp_path, no_calibration):
    setup = a_setup("architecture-open")
    key = calibration_key(setup)
    made = Calibration(key=key, machine=compute.machine(), local_steps=250, rounds=15,
                       site_cpu_s={"site-1": 3.0}, bound_s=7.0, how="2 x 3.0 s + 1 s", runs="/elsewhere/0000-steps250")
    cache_file(key).parent.mkdir(parents=True)
    cache_file(key).write_text(made.model_dump_json())
    said = []
    assert ComputeBound(tmp_path / "c").for_run(setup, said.append) == {"site_cpu_s": 7.0, "how": "2 x 3.0 s + 1 s"}
    assert said == []  # nothing to wait for
    [entry] = json.loads((tmp_path / "c" / "compute.json").read_text())
    assert entry == made.model_dump()  # the campaign's record names the runs it came from
    assert not (tmp_path / "c" / "compute").exists()


def test_another_base_image_or_an_unreadable_cache_entry_calibrates_again(tmp_path, monkeypatch):
    setup = a_setup("architecture-open")
    cache_file(calibration_key(setup)).parent.mkdir(parents=True)
    cache_file(calibration_key(setup)).write_text("{not json")
    other = a_setup("architecture-open", base="sha256:base-b")
    assert calibration_key(other) != calibration_key(setup)
    calibrated = []

    def fake(self, s, key):
        calibrated.append(key)
        return Calibration(key=key, machine="m", local_steps=250, rounds=15, bound_s=5.0, how="fresh")
    monkeypatch.setattr(ComputeBound, "_calibrate", fake)
    bound = ComputeBound(tmp_path / "c")
    assert bound.for_run(setup)["how"] == "fresh" and bound.for_run(other)["how"] == "fresh"
    assert calibrated == [calibration_key(setup), calibration_key(other)]
    assert bound.for_run(setup)["how"] == "fresh" and len(calibrated) == 2  # the campaign's compute.json
    assert json.loads(cache_file(calibration_key(other)).read_text())["bound_s"] == 5.0
