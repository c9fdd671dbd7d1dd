"""The server that runs no candidate code (sandbox/harness/server_config.py): the exported config
made trusted, the wire between the server and the aggregator's own process, and that process on
this host's real kernel (restricted: no writes outside its folder, no TCP, no signal to the
server), aggregating exactly as the same class does in process. End to end: the attack suite
(`aggregator-doubles-rounds`, `round-metrics-nan`, `server-reads-sites`) and every mechanism's
campaign (test_mechanisms_e2e.py)."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.sandbox.harness import fl_wire
from afr_box.sandbox.harness.aggregator_proxy import AggregatorFailed, SandboxedAggregator
from afr_box.sandbox.harness.errors import BudgetViolation
from afr_box.sandbox.harness.landlock import abi_version
from afr_box.sandbox.harness.server_config import (GLOBAL_MODEL, INITIAL_WEIGHTS, PERSISTOR, PROXY, TrustedServer,
                                                   make_trusted)
from afr_box.sandbox.harness.surface_import import build_view


def exported(tmp_path: Path, extra_components=(), result_filters=()) -> tuple[Path, dict]:
    job = tmp_path / "job" / "heart"
    (job / "app" / "custom" / "shared").mkdir(parents=True, exist_ok=True)
    (job / "app" / "config").mkdir(parents=True, exist_ok=True)
    cfg = {"workflows": [{"id": "controller", "path": "nvflare.app_common.workflows.fedavg.FedAvg",
                          "args": {"aggregator": {"path": "shared.aggregators.FedAvgM", "args": {"momentum": 0.5}}}}],
           "components": [{"id": "persistor", "path": "nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor",
                           "args": {"model": {"path": "models.LogisticRegression", "args": {}}}},
                          {"id": "locator", "path": "nvflare.app_opt.pt.file_model_locator.PTFileModelLocator",
                           "args": {"pt_persistor_id": "persistor"}}, *extra_components],
           "task_result_filters": [{"tasks": ["train"], "filters": list(result_filters)}]}
    (tmp_path / INITIAL_WEIGHTS).write_bytes(b"")
    return job, cfg


def server(tmp_path: Path) -> TrustedServer:
    return TrustedServer(view="/view/heart:/view", work=tmp_path, workspace=tmp_path / "ws")


def test_the_candidates_aggregator_and_model_leave_the_server_config(tmp_path):
    job, cfg = exported(tmp_path)
    made = make_trusted(job, cfg, server(tmp_path))
    aggregator = made["workflows"][0]["args"]["aggregator"]
    assert aggregator["path"] == PROXY
    assert json.loads(aggregator["args"]["spec"]) == {"path": "shared.aggregators.FedAvgM", "args": {"momentum": 0.5}}
    assert [c["path"] for c in made["components"]] == [PERSISTOR]  # the PT locator goes with the PT persistor
    assert made["components"][0]["args"] == {"initial": str(tmp_path / INITIAL_WEIGHTS),
                                             "final": str(tmp_path / "ws" / GLOBAL_MODEL)}
    assert not (job / "app" / "custom").exists()  # the server finds no candidate module on its path


@pytest.mark.parametrize("extra,filters,where", [
    ([{"id": "spy", "path": "shared.spy.Spy", "args": {}}], [], "components[1]"),
    ([{"id": "w", "path": "nvflare.app_common.widgets.x.Y", "args": {"inner": {"path": "models.Hook"}}}], [],
     "components[1].args.inner"),
    ([], [{"path": "shared.filters.Leak", "args": {}}], "task_result_filters[0].filters[0]"),
])
def test_any_other_candidate_class_in_the_server_config_is_refused(tmp_path, extra, filters, where):
    job, cfg = exported(tmp_path, extra, filters)
    with pytest.raises(BudgetViolation, match=rf"server config's {where.replace('[', '.').replace(']', '.')}"
                                              r".*the server runs no candidate code"):
        make_trusted(job, cfg, server(tmp_path))


def test_a_config_without_the_models_persistor_or_initial_weights_is_refused(tmp_path):
    job, cfg = exported(tmp_path)
    cfg["components"] = cfg["components"][1:]
    with pytest.raises(BudgetViolation, match="no PTFileModelPersistor with a model"):
        make_trusted(job, cfg, server(tmp_path))
    job, cfg = exported(tmp_path)
    (tmp_path / INITIAL_WEIGHTS).unlink()
    with pytest.raises(BudgetViolation, match="wrote no initial weights"):
        make_trusted(job, cfg, server(tmp_path))


def round_trip(message: dict) -> dict:
    buf = io.BytesIO()
    fl_wire.send(buf, message)
    buf.seek(0)
    return fl_wire.receive(buf)


def test_an_fl_model_crosses_the_wire_as_it_was():
    model = FLModel(params_type=ParamsType.DIFF, params={"w": torch.arange(6.0).reshape(2, 3), "n": np.int64(3) * np.ones(2, np.int64)},
                    metrics={"loss": float("nan"), "acc": 0.5}, current_round=4, total_rounds=15,
                    meta={"client_name": "site-1", "scaffold_dc": b"\x93NUMPY", "nested": {"t": (1, [2.5, None])}})
    back = fl_wire.to_model(round_trip({"model": fl_wire.model_fields(model)})["model"])
    assert isinstance(back.params["w"], torch.Tensor) and torch.equal(back.params["w"], model.params["w"])
    assert isinstance(back.params["n"], np.ndarray) and back.params["n"].dtype == np.int64
    assert back.params_type == ParamsType.DIFF and (back.current_round, back.total_rounds) == (4, 15)
    assert back.meta == model.meta and np.isnan(back.metrics["loss"]) and back.metrics["acc"] == 0.5


@pytest.mark.parametrize("header", [
    ["D", [["x", {"__array__": 0}]]],  # an untagged dict
    ["D", [["x", ["Z", 1]]]],          # an unknown tag
    ["D", [["x", ["A", 7, False]]]],   # an array that is not there
    ["L", [1]],                        # not a dict at the top
])
def test_a_malformed_message_is_a_wire_error(header):
    blob = io.BytesIO()
    np.savez(blob)
    head = json.dumps(header).encode()
    data = fl_wire._LEN.pack(len(head), len(blob.getvalue())) + head + blob.getvalue()
    with pytest.raises(fl_wire.WireError):
        fl_wire.receive(io.BytesIO(data))
    with pytest.raises(fl_wire.WireError, match="truncated"):
        fl_wire.receive(io.BytesIO(data[:-3]))


def test_an_object_array_never_unpickles():
    blob = io.BytesIO()
    np.savez(blob, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    head = json.dumps(["D", [["x", ["A", 0, False]]]]).encode()
    data = fl_wire._LEN.pack(len(head), len(blob.getvalue())) + head + blob.getvalue()
    with pytest.raises(fl_wire.WireError, match="unreadable"):
        fl_wire.receive(io.BytesIO(data))


def updates():
    rng = np.random.default_rng(0)
    return [FLModel(params_type=ParamsType.DIFF, params={"w": torch.from_numpy(rng.normal(size=(3, 4)).astype(np.float32))},
                    meta={"client_name": f"site-{i}", "NUM_STEPS_CURRENT_ROUND": 10 * i}, metrics={"loss": 1.0 / i})
            for i in (1, 2, 3)]


def test_the_aggregator_in_its_own_process_gives_what_the_same_class_gives_in_process(tmp_path):
    (tmp_path / "surface").mkdir()
    view = str(build_view(tmp_path / "surface", "heart", tmp_path / "view"))  # the baseline's view
    sys.path.insert(0, view)
    try:
        from shared.aggregators import FedAvgM
    finally:
        sys.path.remove(view)
    local, proxy = FedAvgM(momentum=0.5), SandboxedAggregator(
        json.dumps({"path": "shared.aggregators.FedAvgM", "args": {"momentum": 0.5}}), view, str(tmp_path / "agg"),
        isolate=False)
    try:
        for _ in range(2):  # the momentum carries over: the worker keeps its state between rounds
            for agg in (local, proxy):
                agg.reset_stats()
                for update in updates():
                    agg.accept_model(update)
            want, got = local.aggregate_model(), proxy.aggregate_model()
            assert isinstance(got.params["w"], torch.Tensor) and torch.equal(got.params["w"], want.params["w"])
            assert got.meta == want.meta and got.metrics == want.metrics
    finally:
        proxy.stop()


HOSTILE = '''
import os, socket

class Hostile:
    """Tries what the server could do, then reports (every attempt should fail)."""
    def __init__(self, target):
        self.target = target

    def reset_stats(self):
        pass

    def accept_model(self, model):
        tried = {}
        for name, attempt in (("write", lambda: open(self.target, "w").write("x")),
                              ("tcp", lambda: socket.create_connection(("127.0.0.1", 9), timeout=1)),
                              ("signal", lambda: os.kill(os.getppid(), 0))):
            try:
                attempt()
                tried[name] = "done"
            except OSError as exc:
                tried[name] = type(exc).__name__
        raise RuntimeError(repr(tried))
'''


@pytest.mark.skipif(abi_version() < 6, reason="needs Landlock with TCP rules and scopes (Linux 6.12)")
def test_the_restricted_aggregator_cannot_write_the_servers_files_connect_or_signal(tmp_path):
    (tmp_path / "view").mkdir()
    (tmp_path / "view" / "hostile.py").write_text(HOSTILE)
    target = tmp_path / "ws" / GLOBAL_MODEL
    target.parent.mkdir()
    proxy = SandboxedAggregator(json.dumps({"path": "hostile.Hostile", "args": {"target": str(target)}}),
                                str(tmp_path / "view"), str(tmp_path / "agg"), isolate=True)
    try:
        with pytest.raises(AggregatorFailed) as failed:
            proxy.accept_model(updates()[0])
    finally:
        proxy.stop()
    assert "{'write': 'PermissionError', 'tcp': 'PermissionError', 'signal': 'PermissionError'}" in str(failed.value)
    assert not target.exists()
