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
from afr_box.sandbox.harness.scorer import ScoreRefused, count_params, score, weights_digest
from afr_box.sandbox import seccomp
from afr_box.sandbox.spec import Mount, RunSpec, container_args, describe


def spec(**kw) -> RunSpec:
    base = dict(image="img", command=["python"], mounts=[Mount(Path("/tmp/o"), "/out", read_only=False),
                                                         Mount(Path("/tmp/d"), "/data")],
                limits=ContainerLimits(), timeout_s=10)
    return RunSpec(**{**base, **kw})


def test_every_container_is_hardened():
    args = container_args(spec())
    assert args["read_only"] is True and args["network_mode"] == "none" and args["cap_drop"] == ["ALL"]
    assert args["security_opt"][0] == "no-new-privileges" and args["user"] == "10001:10001"
    assert args["security_opt"][1] == f"seccomp={seccomp.profile_json()}"
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


def scorer_inputs(tmp_path, convention="per_client_mean", rounds=3, preds=None, n_params_cap=100, site_rounds=None):
    run = RunFile(task="heart", phase="score", budget={"rounds": 3, "max_model_params": n_params_cap},
                  sites=["site-1", "site-2"], eval_sites=["site-1", "site-2"],
                  metric={"name": "binary_accuracy", "higher_is_better": True, "convention": convention})
    train, pred, labels = (tmp_path / d for d in ("train", "pred", "labels"))
    for d in (train, pred, labels):
        d.mkdir(parents=True)
    site_rounds = {"site-1": rounds, "site-2": rounds} if site_rounds is None else site_rounds
    (train / "train_stats.json").write_text(json.dumps({"rounds_completed": rounds, "site_rounds": site_rounds}))
    np.savez(train / "model.npz", w=np.zeros(13, np.float32), b=np.zeros(1, np.float32), steps=np.zeros(1, np.int64))
    y = {"site-1": [1, 0, 1, 1], "site-2": [0, 0]}
    p = preds or {"site-1": [0.9, 0.2, 0.1, 0.8], "site-2": [0.1, 0.7]}
    for site in y:
        (labels / site).mkdir()
        np.save(labels / site / "y.npy", np.array(y[site], dtype=np.float32))
        np.save(pred / f"{site}.npy", np.array(p[site], dtype=np.float32))
    return run, train, pred, labels


def test_scorer_conventions(tmp_path):
    # site-1: 3/4 right, site-2: 1/2 right -> per-client mean 0.625, pooled 4/6
    assert score(*scorer_inputs(tmp_path / "a"))["score"] == pytest.approx(0.625)
    rec = score(*scorer_inputs(tmp_path / "b", convention="pooled"))
    assert rec["score"] == pytest.approx(4 / 6) and rec["per_client"] == {"site-1": 0.75, "site-2": 0.5}
    assert rec["n_params"] == 15  # w, b and the int64 step counter: every numeric array counts
    assert len(rec["weights_sha256"]) == 64


def model_with(tmp_path, cap=100, max_bytes=None, **arrays):
    """scorer inputs whose model.npz holds `arrays` (and a budget with these caps)."""
    run, train, pred, labels = scorer_inputs(tmp_path, n_params_cap=cap)
    np.savez(train / "model.npz", **arrays)
    if max_bytes:
        run = run.model_copy(update={"budget": {**run.budget, "max_model_bytes": max_bytes}})
    return run, train, pred, labels


@pytest.mark.parametrize("arrays,message", [
    # 5x the cap as int8 "weights" dequantised in forward: once counted as 14 parameters
    ({"w": np.zeros(13, np.float32), "codes": np.ones(500, np.int8)}, "513 parameters > max_model_params 100"),
    # raw training rows smuggled to the inference container in an int32 buffer
    ({"w": np.zeros(13, np.float32), "rows": np.zeros((30, 13), np.int32)}, "403 parameters"),
    ({"mask": np.ones(200, bool)}, "200 parameters"),
    # one element, a megabyte: a void record is not a weight
    ({"blob": np.zeros(1, dtype="V1000000")}, r"dtype '\|V1000000'"),
    ({"names": np.array(["a" * 1000])}, "dtype '<U1000'"),
])
def test_the_parameter_cap_counts_every_numeric_array(tmp_path, arrays, message):
    with pytest.raises(ScoreRefused, match=message) as err:
        score(*model_with(tmp_path, **arrays))
    assert err.value.kind == "budget"


def test_the_byte_cap_refuses_wide_dtypes_within_the_parameter_cap(tmp_path):
    wide = {"w": np.zeros(90, np.complex128)}  # 90 parameters (cap 100) but 1440 bytes > 8 per allowed one
    assert count_params(model_with(tmp_path / "a", **wide)[1] / "model.npz") == (90, 1440)
    with pytest.raises(ScoreRefused, match="1440 bytes > max_model_bytes 800"):
        score(*model_with(tmp_path / "b", **wide))
    assert score(*model_with(tmp_path / "c", w=np.zeros(90, np.float64)))["n_params"] == 90
    with pytest.raises(ScoreRefused, match="720 bytes > max_model_bytes 400"):  # a profile's own byte cap
        score(*model_with(tmp_path / "d", max_bytes=400, w=np.zeros(90, np.float64)))
    assert score(*model_with(tmp_path / "e", max_bytes=400, w=np.zeros(90, np.float32)))["n_params"] == 90


def test_an_array_larger_than_its_header_says_is_refused_before_it_is_read(tmp_path):
    import io
    import zipfile

    run, train, pred, labels = scorer_inputs(tmp_path)
    member = io.BytesIO()
    np.save(member, np.zeros(13, np.float32))
    with zipfile.ZipFile(train / "model.npz", "w", zipfile.ZIP_DEFLATED) as zf:  # 13 floats, then 50 MB of zeros
        zf.writestr("w.npy", member.getvalue() + bytes(50 * 2 ** 20))
    with pytest.raises(ScoreRefused, match="w.npy: 52428980 bytes for a <f4 array of shape \\(13,\\)") as err:
        score(run, train, pred, labels)
    assert err.value.kind == "output"


def test_the_weights_digest_is_the_arrays_not_the_archive(tmp_path):
    import time

    np.savez(tmp_path / "a.npz", w=np.arange(4.0), b=np.ones(1))
    time.sleep(2.1)  # zip entries carry a 2-second timestamp
    np.savez(tmp_path / "b.npz", b=np.ones(1), w=np.arange(4.0))
    np.savez(tmp_path / "c.npz", w=np.arange(4.0) + 1e-12, b=np.ones(1))
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "b.npz").read_bytes()
    assert weights_digest(tmp_path / "a.npz") == weights_digest(tmp_path / "b.npz") != weights_digest(tmp_path / "c.npz")


@pytest.mark.parametrize("kw,kind,message", [
    ({"rounds": 2}, "budget", "rounds completed 2"),
    ({"n_params_cap": 10}, "budget", "max_model_params"),
    ({"preds": {"site-1": [0.9, 0.2, 0.1], "site-2": [0.1, 0.7]}}, "output", "expected 4 rows"),
    ({"preds": {"site-1": [0.9, 0.2, 0.1, float("nan")], "site-2": [0.1, 0.7]}}, "output", "site-1"),
    # the server's collector saw site-2 in 2 of the 3 rounds (a run that dropped it), or saw no rounds
    ({"site_rounds": {"site-1": 3, "site-2": 2}}, "budget", "site-2 took part in 2 of the 3 rounds"),
    ({"site_rounds": {}}, "budget", "site-1 took part in 0 of the 3 rounds"),
])
def test_scorer_refuses(tmp_path, kw, kind, message):
    with pytest.raises(ScoreRefused, match=message) as err:
        score(*scorer_inputs(tmp_path, **kw))
    assert err.value.kind == kind


def with_compute(tmp_path, site_cpu, bound=None, unattributed=0.0, complete=True):
    """scorer inputs whose train_stats.json counts `site_cpu` (and a run file with this bound)."""
    run, train, pred, labels = scorer_inputs(tmp_path)
    (train / "train_stats.json").write_text(json.dumps({
        "rounds_completed": 3, "site_rounds": {"site-1": 3, "site-2": 3}, "site_cpu_s": site_cpu, "unattributed_cpu_s": unattributed,
        "cpu_accounting_complete": complete}))
    if bound is not None:
        run = run.model_copy(update={"compute_bound": {"site_cpu_s": bound, "how": "1.5 x the calibration"}})
    return run, train, pred, labels


def test_the_scorer_holds_each_sites_local_compute_against_the_bound(tmp_path):
    within = score(*with_compute(tmp_path / "a", {"site-1": 2.0, "site-2": 2.9}, bound=3.0))
    assert within["site_cpu_s"] == {"site-1": 2.0, "site-2": 2.9} and within["compute_bound_s"] == 3.0
    with pytest.raises(ScoreRefused, match=r"local compute: site-2's client used 5\.8 s of CPU > the bound 3\.0 s "
                                           r"\(1\.5 x the calibration\)") as err:
        score(*with_compute(tmp_path / "b", {"site-1": 2.0, "site-2": 5.8}, bound=3.0))
    assert err.value.kind == "budget"
    # what left a worker's session counts to every site
    with pytest.raises(ScoreRefused, match="site-1's client used 3.5 s"):
        score(*with_compute(tmp_path / "c", {"site-1": 2.0, "site-2": 1.9}, bound=3.0, unattributed=1.5))
    with pytest.raises(ScoreRefused, match="not counted to the end") as err:
        score(*with_compute(tmp_path / "d", {"site-1": 1.0, "site-2": 1.0}, bound=3.0, complete=False))
    assert err.value.kind == "output"
    unbound = score(*with_compute(tmp_path / "e", {"site-1": 50.0, "site-2": 1.0}))  # a smoke run: no bound
    assert unbound["site_cpu_s"]["site-1"] == 50.0 and unbound["compute_bound_s"] is None


def test_surface_resolves_to_real_files():
    assert resolve_surface("heart", load_policy("scalar-hpo")) == ["heart/knobs.yaml"]
    assert resolve_surface("heart", load_policy("architecture-open")) == [
        "heart/client.py", "heart/job.py", "heart/knobs.yaml", "heart/models.py", "shared/aggregators.py",
        "shared/local_training.py", "shared/recipes.py"]


def test_candidate_tag_is_content_addressed():
    assert candidate_tag("heart", "ab" * 32) == "afr-cand:heart-" + "ab" * 8


def test_the_seccomp_profile_is_the_engine_default_minus_the_denied_calls():
    profile = seccomp.profile()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    allowing = {n for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace", "process_vm_readv",
                 "userfaultfd", "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "pidfd_getfd"):
        assert name in seccomp.DENIED and name not in allowing
    refused = next(r for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ERRNO" and "ptrace" in r["names"])
    assert refused["errnoRet"] == 1 and set(refused["names"]) == set(seccomp.DENIED)
    # what a training job needs stays open; what needs a capability stays shut
    assert {"read", "mmap", "futex", "clone", "execve", "socket", "getrandom", "ioctl", "epoll_wait"} <= allowing
    assert not {"mount", "unshare", "setns", "kexec_load", "init_module", "chroot"} & allowing
    clone = next(r for r in profile["syscalls"] if r["names"] == ["clone"])
    assert clone["args"][0]["op"] == "SCMP_CMP_MASKED_EQ" and clone["args"][0]["value"] & 0x10000000  # CLONE_NEWUSER


def test_a_record_names_the_seccomp_profile_by_its_id():
    record = describe(spec())
    assert record["security_opt"] == ["no-new-privileges", f"seccomp={seccomp.profile_id()}"]
    assert record["seccomp"].startswith(seccomp.profile_id()) and "io_uring_setup" in record["seccomp"]


def test_a_failed_runs_reason_can_name_the_first_exception_its_log_shows():
    from afr_box.sandbox.harness.runner import PYTHON_ERROR

    for line in ("RuntimeError: ATTACK blocked: unix: [Errno 13] Permission denied", "ValueError: bad knob",
                 "torch.OutOfMemoryError: CUDA out of memory", "  KeyError: 'x'  "):
        assert PYTHON_ERROR.match(line.strip())
    for line in ("2026-12-03 15:41:44,458 - ERROR - shareable data is not a valid DXO", "Traceback (most recent call last):",
                 "    raise RuntimeError(msg)", "Error:"):
        assert not PYTHON_ERROR.match(line.strip())
