"""The scalar HPO proposer: seeded, inside the profile's space, and writes only the knobs file."""
from __future__ import annotations

import random

import yaml

from afr_box.orchestrator.proposers.hpo import HpoProposer, sample_knobs
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile
from afr_box.tasks.shared.layout import repo_file


def test_same_seed_same_proposals(tmp_path):
    profile, policy = load_profile("heart"), load_policy("scalar-hpo")
    a = HpoProposer("heart", policy, profile, seed=7).propose(3, tmp_path / "a")
    b = HpoProposer("heart", policy, profile, seed=7).propose(3, tmp_path / "b")
    c = HpoProposer("heart", policy, profile, seed=8).propose(3, tmp_path / "c")
    text = lambda p: (p.snapshot / "heart/knobs.yaml").read_text()
    assert text(a) == text(b) and text(a) != text(c)
    assert a.description.startswith("hpo: ")
    assert sorted(x.relative_to(a.snapshot).as_posix() for x in a.snapshot.rglob("*") if x.is_file()) == ["heart/knobs.yaml"]


def test_samples_respect_ranges_and_conditions():
    profile = load_profile("heart")
    base = yaml.safe_load(repo_file("heart/knobs.yaml").read_text())
    seen_opt = set()
    for i in range(200):
        k = sample_knobs(profile.search_space, base, random.Random(i))
        assert 10 <= k["local_steps"] <= 250 and isinstance(k["local_steps"], int)
        seen_opt.add(k["optimizer"])
        if k["optimizer"] == "sgd":
            assert 0.001 <= k["lr"] <= 0.02
        else:
            assert 0.0003 <= k["lr"] <= 0.006
        if k["aggregator"] != "fedavgm":
            assert k["server_momentum"] == base["server_momentum"]  # only sampled for FedAvgM
        assert k["server_lr"] in (0.0032, 0.01, 0.0316, 0.1, 0.3162, 0.75, 1.0)
        assert set(k) == set(base) | {"local_steps"}  # the baseline leaves local_steps to the budget
    assert seen_opt == {"sgd", "adamw"}
