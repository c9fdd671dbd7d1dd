"""LEAF Reddit: the safe vocabulary loader, the bridge on LEAF's exact format, LEAF's accuracy
(padding and unknown predictions wrong), the argmax predict step, one campaign."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from afr_box.tasks.shared.formats.leaf_text import load_token_vocab
from prepared_arrays import load_part, site_of
from afr_box.tasks.reddit import bridge, predict
from afr_box.tasks.shared.sources import DataSourceError
from fixtures.leaf_text_models import bridge_models
from fixtures.reddit_format import write_reddit
from task_campaign import assert_scored_in_hardened_containers, run_short_campaign
from task_metric import task_metric

score = task_metric('reddit')


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_vocab_loader_refuses_any_global(tmp_path):
    good = {"vocab": {"<PAD>": 0, "<UNK>": 1, "the": 1}, "size": 10000, "unk_symbol": 1, "pad_symbol": 0}
    (tmp_path / "v.pck").write_bytes(pickle.dumps(good))
    assert load_token_vocab(tmp_path / "v.pck") == good
    (tmp_path / "v.json").write_text(json.dumps(good))
    assert load_token_vocab(tmp_path / "v.json") == good
    (tmp_path / "evil.pck").write_bytes(pickle.dumps({"vocab": _Boom(), "size": 1, "unk_symbol": 0, "pad_symbol": 0}))
    with pytest.raises(DataSourceError, match="refers to (posix|os|nt).system"):
        load_token_vocab(tmp_path / "evil.pck")
    (tmp_path / "odd.pck").write_bytes(pickle.dumps({"vocab": {"a": 12000}, "size": 10000, "unk_symbol": 1, "pad_symbol": 0}))
    with pytest.raises(DataSourceError, match=r"ids in \[0, size=10000\)"):
        load_token_vocab(tmp_path / "odd.pck")
    (tmp_path / "junk.pck").write_bytes(b"not a pickle")
    with pytest.raises(DataSourceError, match="not a readable vocabulary"):
        load_token_vocab(tmp_path / "junk.pck")


def test_bridge_reads_leafs_format(tmp_path):
    data = write_reddit(tmp_path / "leaf")
    raw = json.loads((data / "test" / "reddit_0_test.json").read_text())
    vocab = pickle.loads((tmp_path / "leaf" / "vocab" / "reddit_vocab.pck").read_bytes())["vocab"]
    dest = bridge.prepare(tmp_path / "out", source=data, options={"num_clients": 3})
    sizes = json.loads((dest / "manifest.json").read_text())["sites"]
    seqs = sum(len(c) for u in raw["user_data"].values() for c in u["x"])
    assert sum(s["test"] for s in sizes.values()) == seqs
    x = load_part(dest / "test_inputs" / "site-1")["x"]
    y = load_part(dest / "test_labels" / "site-1")["y"]
    assert x.dtype == y.dtype == np.int64 and x.shape == y.shape and x.shape[1] == 10
    first = raw["user_data"]["1"]                                 # site-1 starts with user "1"
    tokens, targets = first["x"][0][0], first["y"][0]["target_tokens"][0]
    assert x[0].tolist() == [vocab.get(t, 1) for t in tokens]
    assert y[0].tolist() == [vocab.get(t, 1) if s != "<PAD>" else -1 for s, t in zip(tokens, targets)]
    assert ((y == -1) == (x == 0)).all()                          # counted = non-padding inputs, as LEAF
    again = bridge.prepare(tmp_path / "again", source=data, options={"num_clients": 3})
    assert (again / "manifest.json").read_text() == (dest / "manifest.json").read_text()


def test_bridge_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(DataSourceError, match="cannot be downloaded"):
        bridge.prepare(tmp_path / "out", options={"num_clients": 2})
    data = write_reddit(tmp_path / "leaf", users=3)
    with pytest.raises(ValueError, match="unknown reddit data option"):
        bridge.prepare(tmp_path / "out", source=data, options={"num_clients": 2, "vocab_size": 5})
    (tmp_path / "leaf" / "vocab" / "reddit_vocab.pck").rename(tmp_path / "v.pck")
    with pytest.raises(DataSourceError, match="no reddit vocabulary: looked for .*reddit_vocab.pck"):
        bridge.prepare(tmp_path / "out", source=data, options={"num_clients": 2})
    other = pickle.loads((tmp_path / "v.pck").read_bytes())
    other["unk_symbol"] = 2
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(DataSourceError, match="expected LEAF's vocabulary"):
        bridge.prepare(tmp_path / "out", source=data, options={"num_clients": 2, "vocab": str(tmp_path / "other.json")})
    shard = data / "train" / "reddit_0_train.json"
    raw = json.loads(shard.read_text())
    raw["user_data"]["1"]["x"][0][0] = raw["user_data"]["1"]["x"][0][0][:9]
    shard.write_text(json.dumps(raw))
    with pytest.raises(DataSourceError, match="list of 10-token sequences"):
        bridge.prepare(tmp_path / "out", source=data, options={"num_clients": 2, "vocab": str(tmp_path / "v.pck")})


def test_metric_counts_like_leaf():
    y = np.array([[5, 1, 0, 7, -1], [9, 9, -1, -1, -1]])
    p = np.array([[5, 1, 0, 8, 5], [9, 3, 4, 4, 4]])
    # counted: 4 + 2 = 6; right: 5, 9 (unk 1 and pad 0 predictions are wrong even when they match)
    assert score(y, p) == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="integer token ids"):
        score(y, p.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 5\)"):
        score(y, p[:, :3])
    with pytest.raises(ValueError, match="no counted"):
        score(np.full((1, 3), -1), np.zeros((1, 3), dtype=np.int64))


def test_model_and_predict_step_give_argmax_ids(tmp_path):
    import torch

    model = bridge_models("reddit").build_model("stacked_lstm")
    assert sum(p.numel() for p in model.parameters()) == 6_182_672
    x = np.random.default_rng(0).integers(0, 10000, size=(7, 10))
    with torch.no_grad():
        ids = predict.predict(model, site_of(tmp_path, x=x))
        logits = model(torch.from_numpy(x))
    assert ids.dtype == np.int64 and ids.shape == (7, 10)
    assert (ids == logits.argmax(-1).numpy()).all()


def test_short_campaign_end_to_end(tmp_path, sandbox):
    data = write_reddit(tmp_path / "leaf", users=4)
    folder, rows = run_short_campaign("reddit", data, tmp_path, clients=2, rounds=1, local_steps=2)
    score = assert_scored_in_hardened_containers(folder, rows[0])
    assert 0.0 <= rows[0].score <= 1.0
