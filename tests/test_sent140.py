"""LEAF Sent140: LEAF's tokenisation, the vocabulary, the bridge on LEAF's exact format (with and
without GloVe), the metric, one campaign."""
from __future__ import annotations

import json

import numpy as np
import pytest

from afr_box.tasks.shared.formats.leaf_text import build_word_vocab, line_to_ids, read_glove, split_line
from prepared_arrays import load_part
from afr_box.tasks.sent140 import bridge
from afr_box.tasks.shared.sources import DataSourceError
from fixtures.leaf_text_models import bridge_models
from fixtures.sent140_format import write_glove, write_sent140
from task_campaign import assert_scored_in_hardened_containers, run_short_campaign
from task_metric import task_metric

score = task_metric('sent140')

V = bridge.VOCAB_SIZE


def test_split_line_and_line_to_ids_as_leaf():
    # LEAF's split_line keeps words with apostrophes and . , ! ? ; as tokens, drops other marks
    assert split_line("@user it's SO good!! :) http://x.co/a") == ["user", "it's", "SO", "good", "!", "!",
                                                                   "http", "x", ".", "co", "a"]
    word2id = {"good": 0, "it's": 1}
    ids = line_to_ids("it's so good", word2id, 5, unk_id=2)
    assert ids == [1, 2, 0, 2, 2]                       # unknown word and padding share LEAF's unk id
    assert line_to_ids("good " * 30, word2id, 25, 2) == [0] * 25


def test_vocabulary_is_deterministic_by_count_then_word():
    lines = ["b a a", "c b a", "d"]
    assert build_word_vocab(lines, 10) == {"a": 0, "b": 1, "c": 2, "d": 3}
    assert build_word_vocab(lines[::-1], 2) == {"a": 0, "b": 1}


def test_glove_reader(tmp_path):
    glove = write_glove(tmp_path / "glove.txt", words=("good", "zebra"))
    matrix, found = read_glove(glove, {"good": 1, "bad": 0}, 3)
    assert found == 1 and matrix.shape == (3, 300) and matrix.dtype == np.float32
    assert not matrix[0].any() and not matrix[2].any() and matrix[1].any()
    (tmp_path / "bad.txt").write_text("good 0.1 0.2\n")
    with pytest.raises(DataSourceError, match="2 values, expected a word and 300 numbers"):
        read_glove(tmp_path / "bad.txt", {"good": 0}, 2)


def test_bridge_reads_leafs_format(tmp_path):
    source = write_sent140(tmp_path / "src")
    raw = json.loads(next((source / "train").glob("*.json")).read_text())
    dest = bridge.prepare(tmp_path / "out", source=source, options={"num_clients": 3})
    manifest = json.loads((dest / "manifest.json").read_text())
    assert sum(s["train"] for s in manifest["sites"].values()) == sum(raw["num_samples"])
    vocab = json.loads((dest / "train" / "assets" / "vocab.json").read_text())
    site = load_part(dest / "train" / "site-1")
    assert site["x"].dtype == np.int64 and site["x"].shape[1] == 25 and set(np.unique(site["y"])) <= {0, 1}
    first = sorted(raw["users"])[0]
    text = raw["user_data"][first]["x"][0][4]
    assert site["x"][0].tolist() == line_to_ids(text, {w: i for i, w in enumerate(vocab)}, 25, V)
    assert site["y"][0] == raw["user_data"][first]["y"][0]
    assert not (dest / "train" / "assets" / "glove_embeddings.npy").exists()
    again = bridge.prepare(tmp_path / "again", source=source, options={"num_clients": 3})
    assert json.loads((again / "manifest.json").read_text())["files"] == manifest["files"]


def test_glove_option_initialises_the_baseline_embedding(tmp_path, monkeypatch):
    source = write_sent140(tmp_path / "src")
    glove = write_glove(tmp_path / "glove.6B.300d.txt")
    dest = bridge.prepare(tmp_path / "out", source=source, options={"num_clients": 2, "glove": str(glove)})
    rows = np.load(dest / "train" / "assets" / "glove_embeddings.npy")
    vocab = json.loads((dest / "train" / "assets" / "vocab.json").read_text())
    assert rows.shape == (V + 1, 300) and rows[vocab.index("love")].any() and not rows[V].any()
    models = bridge_models("sent140")
    monkeypatch.setenv("AFR_DATA_DIR", str(dest / "train"))
    with_glove = models.build_model("stacked_lstm")
    assert np.array_equal(with_glove.embedding.weight.detach().numpy(), rows)
    monkeypatch.setenv("AFR_DATA_DIR", str(dest / "test_inputs"))   # inference: no assets, same shapes
    plain = models.build_model("stacked_lstm")
    assert plain.embedding.weight.shape == with_glove.embedding.weight.shape
    assert sum(p.numel() for p in plain.parameters()) == 3_255_086


def test_bridge_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(DataSourceError, match="cannot be downloaded"):
        bridge.prepare(tmp_path / "out", options={"num_clients": 2})
    with pytest.raises(ValueError, match="unknown sent140 data option"):
        bridge.prepare(tmp_path / "out", source=tmp_path, options={"num_clients": 2, "glvoe": "x"})
    source = write_sent140(tmp_path / "src", users=3)
    with pytest.raises(DataSourceError, match="GloVe file .* does not exist"):
        bridge.prepare(tmp_path / "out", source=source, options={"num_clients": 2, "glove": str(tmp_path / "nope")})
    shard = next((source / "test").glob("*.json"))
    data = json.loads(shard.read_text())
    data["user_data"][data["users"][0]]["x"][0] = "just a string"
    shard.write_text(json.dumps(data))
    with pytest.raises(DataSourceError, match=r"text at index 4"):
        bridge.prepare(tmp_path / "out", source=source, options={"num_clients": 2})


def test_metric_known_values_and_checks():
    y = np.array([0, 1, 1, 0])
    scores = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.5], [0.2, 0.1]])
    assert score(y, scores) == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        score(y, scores[:, 0])
    with pytest.raises(ValueError):
        score(y, scores[:3])


def test_short_campaign_end_to_end_with_glove(tmp_path, sandbox):
    source = write_sent140(tmp_path / "src")
    glove = write_glove(tmp_path / "glove.6B.300d.txt")
    folder, rows = run_short_campaign("sent140", source, tmp_path, options={"glove": str(glove)},
                                      clients=2, rounds=1, local_steps=3)
    score = assert_scored_in_hardened_containers(folder, rows[0])
    assert 0.0 <= rows[0].score <= 1.0
    # The server built the initial global model from the GloVe asset: ids no tweet uses (the
    # fixture's vocabulary is far below 10,000 words) keep GloVe's zero rows after training.
    with np.load(folder / rows[0].artifacts / "train" / "model.npz") as final:
        assert not final["embedding.weight"][V - 1].any()
