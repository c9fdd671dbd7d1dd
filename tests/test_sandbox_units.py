"""Sandbox decisions that need no engine: hardening arguments, budget checks of an exported
job, the scorer's arithmetic and refusals, GPU assignment, content-addressed tags."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from afr_box.orchestrator.gate.surface import resolve_surface
from afr_box.policies.schema import ContainerLimits, load_policy
from afr_box.sandbox.harness.errors import BudgetViolation
from afr_box.sandbox.gpus import resolve_gpus
from afr_box.sandbox.images import candidate_tag
from afr_box.sandbox.harness.run_file import RunFile
from afr_box.sandbox.harness.runner import check_job
from afr_box.sandbox.harness.scorer import ScoreRefused, score
from afr_box.sandbox.spec import Mount, RunSpec, container_args


def spec(**kw) -> RunSpec:
    base = dict(image="img", command=["python"], mounts=[Mount(Path("/tmp/o"), "/out", read_only=False),
                                                         Mount(Path("/tmp/d"), "/data")],
                limits=ContainerLimits(), timeout_s=10)
    return RunSpec(**{**base, **kw})


def test_every_container_is_hardened():
    args = container_args(spec())
    assert args["read_only"] is True and args["network_mode"] == "none" and args["cap_drop"] == ["ALL"]
    assert args["security_opt"] == ["no-new-privileges"] and args["user"] == "10001:10001"
    assert args["pids_limit"] > 0 and args["mem_limit"] == args["memswap_limit"]
    assert args["tmpfs"]["/tmp"].startswith("rw,") and "size=" in args["tmpfs"]["/tmp"]
    assert args["volumes"]["/tmp/d"]["mode"] == "ro" and args["volumes"]["/tmp/o"]["mode"] == "rw"
    assert "device_requests" not in args
    with_gpu = container_args(spec(gpu_ids=["1"]))
    assert with_gpu["device_requests"][0]["DeviceIDs"] == ["1"]
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in args["ulimits"]}
    assert ulimits["fsize"] == (1024 ** 3, 1024 ** 3) and ulimits["core"] == (0, 0) and ulimits["nofile"][1] == 4096
    assert "runtime" not in args
    assert container_args(spec(limits=ContainerLimits(runtime="runsc")))["runtime"] == "runsc"


def test_only_out_may_be_writable():
    with pytest.raises(ValueError, match="only /out"):
        spec(mounts=[Mount(Path("/tmp/d"), "/data", read_only=False)])


def test_gpu_policy_falls_back_to_cpu_with_a_notice():
    assert resolve_gpus(0, ["0"]) == ([], "")
    ids, notice = resolve_gpus(1, [])
    assert ids == [] and "run on the CPU" in notice
    assert resolve_gpus(1, ["0", "1"]) == (["0"], "")


def job_dir(tmp_path, args: dict, path="nvflare.app_common.workflows.fedavg.FedAvg") -> Path:
    cfg = tmp_path / "job" / "app" / "config"
    cfg.mkdir(parents=True)
    (cfg / "config_fed_server.json").write_text(json.dumps({"workflows": [{"id": "c", "path": path, "args": args}]}))
    return tmp_path / "job"


BUDGET = {"rounds": 15, "clients": 4}


def test_exported_job_must_match_the_budget(tmp_path):
    cfg = check_job(job_dir(tmp_path, {"num_rounds": 15, "num_clients": 4}), BUDGET)
    args = cfg["workflows"][0]["args"]
    assert args["num_rounds"] == 15 and args["start_round"] == 0 and cfg["server"]["task_request_interval"] > 0


def test_omitted_rounds_get_the_budget(tmp_path):
    cfg = check_job(job_dir(tmp_path, {"num_clients": 4}), BUDGET)
    assert cfg["workflows"][0]["args"]["num_rounds"] == 15


@pytest.mark.parametrize("args,path,message", [
    ({"num_rounds": 20, "num_clients": 4}, None, "num_rounds=20"),
    ({"num_rounds": 15, "num_clients": 2}, None, "num_clients=2"),
    ({"start_round": 5}, None, "start_round=5"),
    ({}, "nvflare.app_common.workflows.cyclic_ctl.CyclicController", "exactly one workflow"),
    ({"aggregator": {"path": "job.Sneaky", "args": {}}}, None, "must come from"),
])
def test_budget_violations(tmp_path, args, path, message):
    kw = {"path": path} if path else {}
    with pytest.raises(BudgetViolation, match=message):
        check_job(job_dir(tmp_path, args, **kw), BUDGET)


def scorer_inputs(tmp_path, convention="per_client_mean", rounds=3, preds=None, n_params_cap=100):
    run = RunFile(task="heart", phase="score", budget={"rounds": 3, "max_model_params": n_params_cap},
                  sites=["site-1", "site-2"], eval_sites=["site-1", "site-2"],
                  metric={"name": "binary_accuracy", "higher_is_better": True, "convention": convention})
    train, pred, labels = (tmp_path / d for d in ("train", "pred", "labels"))
    for d in (train, pred, labels):
        d.mkdir(parents=True)
    (train / "train_stats.json").write_text(json.dumps({"rounds_completed": rounds}))
    np.savez(train / "model.npz", w=np.zeros(13, np.float32), b=np.zeros(1, np.float32), steps=np.zeros(1, np.int64))
    y = {"site-1": [1, 0, 1, 1], "site-2": [0, 0]}
    p = preds or {"site-1": [0.9, 0.2, 0.1, 0.8], "site-2": [0.1, 0.7]}
    for site in y:
        np.savez(labels / f"{site}.npz", y=np.array(y[site], dtype=np.float32))
        np.save(pred / f"{site}.npy", np.array(p[site], dtype=np.float32))
    return run, train, pred, labels


def test_scorer_conventions(tmp_path):
    # site-1: 3/4 right, site-2: 1/2 right -> per-client mean 0.625, pooled 4/6
    assert score(*scorer_inputs(tmp_path / "a"))["score"] == pytest.approx(0.625)
    rec = score(*scorer_inputs(tmp_path / "b", convention="pooled"))
    assert rec["score"] == pytest.approx(4 / 6) and rec["per_client"] == {"site-1": 0.75, "site-2": 0.5}
    assert rec["n_params"] == 14


@pytest.mark.parametrize("kw,kind,message", [
    ({"rounds": 2}, "budget", "rounds completed 2"),
    ({"n_params_cap": 10}, "budget", "max_model_params"),
    ({"preds": {"site-1": [0.9, 0.2, 0.1], "site-2": [0.1, 0.7]}}, "output", "expected 4 rows"),
    ({"preds": {"site-1": [0.9, 0.2, 0.1, float("nan")], "site-2": [0.1, 0.7]}}, "output", "site-1"),
])
def test_scorer_refuses(tmp_path, kw, kind, message):
    with pytest.raises(ScoreRefused, match=message) as err:
        score(*scorer_inputs(tmp_path, **kw))
    assert err.value.kind == kind


def test_surface_resolves_to_real_files():
    assert resolve_surface("heart", load_policy("scalar-hpo")) == ["heart/knobs.yaml"]
    assert resolve_surface("heart", load_policy("architecture-open")) == [
        "heart/client.py", "heart/job.py", "heart/knobs.yaml", "heart/models.py", "shared/aggregators.py",
        "shared/local_training.py", "shared/recipes.py"]


def test_candidate_tag_is_content_addressed():
    assert candidate_tag("heart", "ab" * 32) == "afr-cand:heart-" + "ab" * 8
