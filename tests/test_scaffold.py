"""SCAFFOLD as a shared mechanism: the server rule (aggregators.Scaffold) and the client's control
variates (local_training.ScaffoldClient), by hand-computed numbers; inert under every other
aggregator, so the untouched baselines train exactly as before."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.sandbox.harness.surface_import import build_view
from afr_box.tasks.shared.surface.aggregators import (SCAFFOLD_DELTA_KEY, SCAFFOLD_GLOBAL_KEY, Scaffold,
                                                      build_aggregator, pack_array, unpack_array)

STEPS = FLMetaKey.NUM_STEPS_CURRENT_ROUND


def update(site, dy, dc, weight=3):
    return FLModel(params_type=ParamsType.DIFF, params={"w": np.asarray(dy, dtype=np.float32)},
                   meta={"client_name": site, STEPS: weight, SCAFFOLD_DELTA_KEY: {"w": np.asarray(dc, np.float32)}})


def round_of(agg, models):
    agg.reset_stats()
    for m in models:
        agg.accept_model(m)
    return agg.aggregate_model()


def test_server_rule_two_rounds(tmp_path):
    agg = build_aggregator("scaffold", server_lr=0.5)
    assert isinstance(agg, Scaffold)
    # round 1: dy = [1, 2] and [3, 6] -> uniform mean [2, 4], * 0.5 = [1, 2] (weights 3 vs 1 ignored)
    out = round_of(agg, [update("site-2", [3, 6], [0.5, 0.0], weight=1), update("site-1", [1, 2], [1.5, 2.0])])
    np.testing.assert_allclose(out.params["w"], [1.0, 2.0])
    # c = 0 + (2/2) * mean([1.5, 2], [0.5, 0]) = [1, 1]
    np.testing.assert_allclose(unpack_array(out.meta[SCAFFOLD_GLOBAL_KEY]["w"]), [1.0, 1.0])
    # round 2: only site-1 reports (|S|/N = 1/2): c = [1, 1] + 0.5 * [2, -2] = [2, 0]
    out = round_of(agg, [update("site-1", [0, 0], [2.0, -2.0])])
    np.testing.assert_allclose(unpack_array(out.meta[SCAFFOLD_GLOBAL_KEY]["w"]), [2.0, 0.0])
    # the meta is saved with the global model and read back with weights_only=True: bytes only
    path = tmp_path / "global.pt"
    torch.save({"meta_props": out.meta}, path)
    assert unpack_array(torch.load(path, weights_only=True)["meta_props"][SCAFFOLD_GLOBAL_KEY]["w"])[0] == 2.0


def test_a_client_without_control_variates_is_refused():
    agg = Scaffold()
    plain = FLModel(params_type=ParamsType.DIFF, params={"w": np.zeros(2)}, meta={"client_name": "site-1", STEPS: 1})
    with pytest.raises(ValueError, match="ScaffoldClient"):
        agg.accept_model(plain)


@pytest.fixture()
def local_training(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    view = build_view(tmp_path / "empty", "heart", tmp_path / "view")
    monkeypatch.syspath_prepend(str(view))
    for name in [m for m in list(__import__("sys").modules) if m == "shared" or m.startswith("shared.")]:
        monkeypatch.delitem(__import__("sys").modules, name)
    import shared.local_training as module
    return module


def tiny_model():
    torch.manual_seed(0)
    return nn.Linear(2, 1, bias=False)


def train(local_training, model, knobs, correction):
    x, y = torch.tensor([[1.0, 2.0], [0.5, -1.0]]), torch.tensor([[1.0], [0.0]])
    loss = lambda idx: ((model(x[idx]) - y[idx]) ** 2).mean()
    gen = torch.Generator().manual_seed(1)
    return local_training.local_steps(model, loss, 2, knobs, 2, gen, correction)


KNOBS = {"optimizer": "sgd", "lr": 0.1, "weight_decay": 0.0, "fedprox_mu": 0.0, "grad_clip": 0.0, "local_steps": 3}


def test_client_control_variates_option_two(local_training):
    client = local_training.ScaffoldClient({**KNOBS, "aggregator": "scaffold"})
    model = tiny_model()
    first = FLModel(params={}, current_round=0, meta={})
    correction = client.correction(model, first)
    assert torch.equal(correction["weight"], torch.zeros(1, 2))  # c = c_i = 0 in round 0: plain SGD
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    steps = train(local_training, model, KNOBS, correction)
    meta = client.report(model, before, steps)
    # c_i+ = c_i - c + (x - y_i) / (K lr) = (before - after) / 0.3; dc = c_i+ - 0
    expected = (before["weight"] - model.weight.detach()) / (3 * 0.1)
    np.testing.assert_allclose(meta[SCAFFOLD_DELTA_KEY]["weight"], expected.numpy(), rtol=1e-6)
    # round 1: the server's c comes back; the correction is c - c_i
    c = np.array([[0.25, -0.5]], dtype=np.float32)
    again = client.correction(model, FLModel(params={}, current_round=1,
                                             meta={SCAFFOLD_GLOBAL_KEY: {"weight": pack_array(c)}}))
    np.testing.assert_allclose(again["weight"].numpy(), c - expected.numpy(), rtol=1e-6)
    # the correction moves training: the same batches end elsewhere than plain SGD
    a, b = tiny_model(), tiny_model()
    train(local_training, a, KNOBS, again)
    train(local_training, b, KNOBS, None)
    assert not torch.equal(a.weight, b.weight)
    with pytest.raises(ValueError, match="carries no SCAFFOLD control variate"):
        client.correction(model, FLModel(params={}, current_round=2, meta={}))


def test_inert_under_other_aggregators(local_training):
    client = local_training.ScaffoldClient({**KNOBS, "aggregator": "weighted"})
    model = tiny_model()
    assert client.correction(model, FLModel(params={}, current_round=3, meta={})) is None
    assert client.report(model, {}, 3) == {}
