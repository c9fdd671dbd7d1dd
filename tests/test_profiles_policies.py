"""Profiles and policies are validated data: bad files fail naming the file, the field and what is expected."""
from __future__ import annotations

import pytest
import yaml

from afr_box.policies.schema import available_policies, load_policy, policy_path
from afr_box.profiles.schema import PROFILES_DIR, available_tasks, load_profile
from afr_box.profiles.yaml_models import ConfigError


def test_shipped_profiles_and_policies_load():
    assert {"heart", "synthetic"} <= set(available_tasks())
    assert {"scalar-hpo", "architecture-open"} <= set(available_policies())
    heart = load_profile("heart")
    assert heart.budget.clients == 4 and heart.budget.rounds == 15 and heart.budget.batch_size == 4
    assert heart.budget.local_steps.baseline == 100 and heart.budget.local_steps.max == 250
    assert heart.metric.name == "binary_accuracy" and heart.metric.higher_is_better
    assert heart.metric.convention == "per_client_mean"
    assert load_profile("synthetic").metric.convention == "pooled"
    for task in available_tasks():
        profile = load_profile(task)
        load_policy(profile.default_policy)
    knobs = {d.knob for d in heart.search_space}
    assert {"local_steps", "lr", "weight_decay", "fedprox_mu", "aggregator", "server_lr", "server_momentum"} <= knobs
    agg = next(d for d in heart.search_space if d.knob == "aggregator")
    assert set(agg.choices) == {"weighted", "fedavg", "fedavgm", "fedadam", "median"}
    assert load_policy("scalar-hpo").globs_for("heart") == ["heart/knobs.yaml"]


def write_profile(tmp_path, mutate) -> str:
    data = yaml.safe_load((PROFILES_DIR / "heart.yaml").read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_wrong_type_names_file_and_field(tmp_path):
    path = write_profile(tmp_path, lambda d: d["budget"].update(rounds="fifteen"))
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert "bad.yaml" in str(err.value) and "budget.rounds" in str(err.value) and "integer" in str(err.value)


def test_unknown_field_is_refused(tmp_path):
    path = write_profile(tmp_path, lambda d: d["budget"].update(roundz=3))
    with pytest.raises(ConfigError, match="budget.roundz"):
        load_profile(path)


def test_missing_field_is_named(tmp_path):
    path = write_profile(tmp_path, lambda d: d.pop("metric"))
    with pytest.raises(ConfigError, match="metric: Field required"):
        load_profile(path)


def test_search_space_cannot_search_a_budget_field(tmp_path):
    path = write_profile(tmp_path, lambda d: d["search_space"].append({"knob": "rounds", "choices": [1, 2]}))
    with pytest.raises(ConfigError, match="budget field"):
        load_profile(path)


def test_local_steps_space_must_stay_in_budget(tmp_path):
    path = write_profile(tmp_path, lambda d: d["search_space"].__setitem__(0, {"knob": "local_steps", "low": 1, "high": 999}))
    with pytest.raises(ConfigError, match="outside budget bounds"):
        load_profile(path)


def test_unknown_task_lists_known_ones():
    with pytest.raises(ConfigError, match="known: .*heart"):
        load_profile("no-such-task")


def test_not_yaml_mapping(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_profile(str(path))
    path.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(str(path))


@pytest.mark.parametrize("field,value,message", [
    ("surface", ["/etc/passwd"], "must be a relative surface path"),
    ("surface", ["../orchestrator/*.py"], r"must be a relative surface path \({task}/... or shared/...\)"),
    ("surface", [], "at least 1"),
])
def test_policy_surface_globs_are_checked(tmp_path, field, value, message):
    data = yaml.safe_load(policy_path("scalar-hpo").read_text())
    data[field] = value
    path = tmp_path / "pol.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_policy(str(path))


def test_policy_refuses_root_user(tmp_path):
    data = yaml.safe_load(policy_path("scalar-hpo").read_text())
    data["container"]["user"] = "0:0"
    path = tmp_path / "pol.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="container.user"):
        load_policy(str(path))


def test_findings_defaults_in_every_shipped_profile():
    """Selection on a validation part, noise-aware keeps: every profile says so (tcga cannot split)."""
    for task in available_tasks():
        p = load_profile(task)
        assert p.min_delta == "auto" and p.noise_seeds == 3, task
        assert p.heldout_fraction == (0.0 if task == "tcga" else 0.3), task
        text = (PROFILES_DIR / f"{task}.yaml").read_text()
        if task == "tcga":
            assert "site-6 has 11 test patients with a single event" in text  # says why there is no split


def test_old_profile_copies_keep_their_meaning(tmp_path):
    """A campaign's own profile.yaml from before these fields loads as it ran: no split, no floor, delta 0."""
    spec = yaml.safe_load((PROFILES_DIR / "heart.yaml").read_text())
    for key in ("min_delta", "noise_seeds", "heldout_fraction"):
        spec.pop(key)
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(spec))
    p = load_profile(path)
    assert (p.min_delta, p.noise_seeds, p.heldout_fraction) == (0.0, 1, 0.0)
    spec["min_delta"] = -0.1
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="min_delta"):
        load_profile(path)


@pytest.mark.parametrize("task", ["heart", "tcga", "synthetic", "femnist"])
def test_architecture_open_variant_is_the_same_budget_with_code_level_knobs(task):
    import importlib.util

    from afr_box.tasks.shared.layout import repo_file
    from afr_box.tasks.shared.surface.aggregators import AGGREGATORS

    base = load_profile(task)
    variant = load_profile(PROFILES_DIR / "variants" / f"{task}-architecture-open.yaml")
    same = {"search_space", "title", "default_policy"}
    assert variant.model_dump(exclude=same) == base.model_dump(exclude=same)  # a same-budget control
    assert variant.default_policy == "architecture-open"
    base_dims = [d for d in base.search_space if d.knob != "aggregator"]
    assert all(d in variant.search_space for d in base_dims)
    spec = importlib.util.spec_from_file_location(f"{task}_models", repo_file(f"{task}/models.py"))
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    dims = {d.knob: d for d in variant.search_space}
    assert set(dims["model"].choices) == set(models.MODELS)
    assert "scaffold" in dims["aggregator"].choices and set(dims["aggregator"].choices) <= set(AGGREGATORS)
