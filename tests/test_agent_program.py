"""The agent's program: per-task guidance rendered from the profile (its numbers cannot drift from
what is enforced), site sizes, the batch note; the smoke budget and how the harness holds a
candidate's own step count to it."""
from __future__ import annotations

import json

import pytest
import yaml

from afr_box.orchestrator.pipeline.smoke import smoke_profile
from afr_box.orchestrator.proposers.agent.program import render_guidance, render_program, site_sizes
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import available_tasks, load_profile, profile_path


@pytest.mark.parametrize("task", available_tasks())
def test_every_profile_has_guidance_whose_numbers_come_from_the_profile(task, tmp_path):
    profile = load_profile(task)
    text = render_guidance(profile)
    assert "Calibration sequence" in text and "Known failure modes" in text and "{{" not in text
    assert f"{profile.budget.rounds} rounds" in text and profile.metric.name in text
    data = yaml.safe_load(profile_path(task).read_text())
    data["budget"]["rounds"] = 97
    changed = tmp_path / f"{task}.yaml"
    changed.write_text(yaml.safe_dump(data))
    assert "97 rounds" in render_guidance(load_profile(changed))  # never a copied number
    program = render_program("builtin", profile, load_policy("architecture-open"))
    assert "## Task guidance" in program and text in program


def test_the_program_names_site_sizes_and_plans_batches_when_candidates_run_at_once(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"sites": {"site-1": {"train": 199, "test": 50},
                                                                  "site-2": {"train": 172, "test": 44}}}))
    profile, policy = load_profile("heart"), load_policy("architecture-open")
    program = render_program("builtin", profile, policy, parallel=3, site_sizes=site_sizes(tmp_path))
    assert "Sites (samples): site-1 (199 train, 50 test), site-2 (172 train, 44 test)." in program
    assert "Up to 3 candidates run at once" in program and "one sweep axis per candidate" in program
    assert "Batches" not in render_program("builtin", profile, policy, parallel=1)
    assert site_sizes(tmp_path / "missing") == {}


def test_the_smoke_budget_is_one_round_two_clients_and_few_steps_over_the_first_sites():
    profile = load_profile("heart")
    smoke = smoke_profile(profile).budget
    assert (smoke.rounds, smoke.clients, smoke.local_steps.max, smoke.timeout_s) == (1, 2, 2, 300)
    assert smoke.site_names() == ["site-1", "site-2"] and smoke.eval_sites() == ["site-1", "site-2"]
    assert profile.budget.rounds == 15  # the profile itself is untouched


def test_the_harness_holds_a_candidates_own_step_count_to_the_runs_bound(tmp_path, monkeypatch):
    from afr_box.tasks.shared import site_env

    run = tmp_path / "run.json"
    (tmp_path / "surface" / "heart").mkdir(parents=True)
    monkeypatch.setenv("AFR_RUN_FILE", str(run))
    monkeypatch.setenv("AFR_SURFACE", str(tmp_path / "surface"))
    for knobs, bound, expected in (("local_steps: 200\n", 2, 2), ("local_steps: 200\n", 250, 200),
                                   ("lr: 0.1\n", 2, 2)):
        (tmp_path / "surface/heart/knobs.yaml").write_text(knobs)
        run.write_text(json.dumps({"task": "heart", "budget": {"local_steps": {"baseline": min(100, bound),
                                                                               "min": 1, "max": bound}}}))
        site_env.run_info.cache_clear()
        assert site_env.knobs()["local_steps"] == expected
    site_env.run_info.cache_clear()
