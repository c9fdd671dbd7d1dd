"""The Optuna controls: define-by-run over the profile's space, failed runs told as failed trials,
and a study rebuilt from the campaign's records that proposes exactly what an uninterrupted one
would (every sampler), without Docker: scores here come from a fixed function of the knobs."""
from __future__ import annotations

import json
import math

import pytest
import yaml

from afr_box.orchestrator.errors import ProposerError
from afr_box.orchestrator.proposers.optuna_search import SAMPLERS, OptunaProposer, param_names
from afr_box.orchestrator.records.layout import CampaignFolder, candidate_id
from afr_box.orchestrator.records.models import ProposalRecord, save
from afr_box.orchestrator.records.runlog import Row
from afr_box.orchestrator.records.status import Status
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile


def knobs_of(proposal) -> dict:
    return yaml.safe_load((proposal.snapshot / "heart/knobs.yaml").read_text())


def fake_outcome(index: int, knobs: dict) -> tuple[Status, float | None]:
    """A deterministic 'score' with a crash every fifth candidate (a failed trial)."""
    if index % 5 == 0:
        return Status.CRASH, None
    score = 0.8 - abs(math.log(knobs["lr"] / 0.01)) * 0.05 - knobs["local_steps"] / 5000
    return Status.DISCARD, score


def row(index: int, status: Status, score) -> Row:
    return Row(commit="0" * 12, score=score, runtime_seconds=1.0, budget="b", status=status, target="heart",
               description="d", artifacts=f"candidates/{candidate_id(index)}", candidate=candidate_id(index),
               image_id="", surface_hash="", policy="scalar-hpo", seed=42, proposer="optuna")


def run(proposer, folder: CampaignFolder, indices, history: list[Row], tmp) -> list[dict]:
    """Propose `indices` in order, record each proposal as evaluate() does, log its fake outcome."""
    out = []
    for i in indices:
        proposal = proposer.propose(i, tmp / "ws", list(history))
        record = folder.candidate(candidate_id(i))
        record.path.mkdir(parents=True, exist_ok=True)
        save(ProposalRecord(description=proposal.description, proposer=proposal.proposer, search=proposal.search),
             record.proposal)
        knobs = knobs_of(proposal)
        history.append(row(i, *fake_outcome(i, knobs)))
        out.append(knobs)
    return out


def make(sampler: str, folder: CampaignFolder, seed: int = 3) -> OptunaProposer:
    return OptunaProposer("heart", load_policy("scalar-hpo"), load_profile("heart"), seed, sampler, folder)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_resumed_study_proposes_what_an_uninterrupted_one_would(sampler, tmp_path):
    n, cut = 13, 8
    a_folder, b_folder = CampaignFolder(tmp_path / "a"), CampaignFolder(tmp_path / "b")
    history_a = [row(0, Status.KEEP, 0.7)]
    straight = run(make(sampler, a_folder), a_folder, range(1, n), history_a, tmp_path / "a")
    # The interrupted campaign: the first process proposes up to `cut`, a new process (a --resume
    # after kill -9) goes on from the records alone.
    history_b = [row(0, Status.KEEP, 0.7)]
    first = run(make(sampler, b_folder), b_folder, range(1, cut), history_b, tmp_path / "b")
    resumed = run(make(sampler, b_folder), b_folder, range(cut, n), history_b, tmp_path / "b")
    assert first + resumed == straight
    # a model-based sampler does use the history: another seed's run differs
    other = run(make(sampler, CampaignFolder(tmp_path / "c"), seed=4), CampaignFolder(tmp_path / "c"),
                range(1, n), [row(0, Status.KEEP, 0.7)], tmp_path / "c")
    assert other != straight


def test_define_by_run_respects_ranges_conditions_and_failures(tmp_path):
    folder = CampaignFolder(tmp_path / "c")
    proposer = make("tpe", folder)
    history = [row(0, Status.KEEP, 0.7)]
    seen = run(proposer, folder, range(1, 31), history, tmp_path)
    for k in seen:
        assert 10 <= k["local_steps"] <= 250 and isinstance(k["local_steps"], int)
        assert (0.001 <= k["lr"] <= 0.02) if k["optimizer"] == "sgd" else (0.0003 <= k["lr"] <= 0.006)
        if k["aggregator"] != "fedavgm":
            assert k["server_momentum"] == 0.9  # the baseline's: only suggested under FedAvgM
    assert {k["optimizer"] for k in seen} == {"sgd", "adamw"}
    proposer.propose(31, tmp_path / "ws", history)  # tells the last outcomes
    states = [t.state.name for t in proposer._study.trials]
    assert states.count("FAIL") == 6 and states.count("COMPLETE") == 24 and states[-1] == "RUNNING"
    params = proposer._study.trials[0].params
    assert ("lr|optimizer=sgd" in params) != ("lr|optimizer=adamw" in params)  # one lr range per trial


def test_param_names_keep_shared_knobs_apart():
    space = load_profile("heart").search_space
    names = param_names(space)
    assert "lr|optimizer=sgd" in names and "lr|optimizer=adamw" in names and len(set(names)) == len(names)


def test_a_space_less_profile_is_refused(tmp_path):
    profile = load_profile("heart").model_copy(update={"search_space": []})
    with pytest.raises(ProposerError, match="no search_space"):
        OptunaProposer("heart", load_policy("scalar-hpo"), profile, 0, "tpe", CampaignFolder(tmp_path))
    with pytest.raises(ProposerError, match="unknown sampler"):
        OptunaProposer("heart", load_policy("scalar-hpo"), load_profile("heart"), 0, "anneal", CampaignFolder(tmp_path))


def test_a_record_that_no_longer_replays_rebuilds_from_observations(tmp_path, caplog):
    folder = CampaignFolder(tmp_path / "d")
    history = [row(0, Status.KEEP, 0.7)]
    run(make("tpe", folder), folder, range(1, 7), history, tmp_path)
    record = folder.candidate("0003").proposal  # as if another Optuna version had sampled it
    data = json.loads(record.read_text())
    data["search"]["params"]["local_steps"] = 11 if data["search"]["params"]["local_steps"] != 11 else 12
    save(ProposalRecord(**data), record)
    resumed = make("tpe", folder)
    resumed.propose(7, tmp_path / "ws", history)
    assert "rebuilding the study from the recorded trials" in caplog.text
    trials = resumed._study.trials
    assert [t.state.name for t in trials[:6]] == [("FAIL" if i % 5 == 0 else "COMPLETE") for i in range(1, 7)]
    assert trials[2].params == data["search"]["params"]
