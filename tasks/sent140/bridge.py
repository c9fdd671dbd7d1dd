"""LEAF Sent140 data bridge (fixed code): tweet sentiment (0/1), users = Twitter accounts.

Reads the folder LEAF's preprocessing writes (leaf/data/sent140/data, holding train/ and test/
JSON shards; paper setting `./preprocess.sh --sf 0.5 -k 3 -s niid -t sample`). Every sample is
x = [tweet id, date, query, user, text, "training"|"test"] (data_to_json.py keeps the CSV row
after the polarity; LEAF's model reads x[4], the text) and y = 0/1 (polarity 4 -> 1).

Vocabulary (LEAF's model looks words up in GloVe's 400k-word list, which is not available
here): the VOCAB_SIZE most frequent words of the pooled training split, split by LEAF's
split_line, ties broken alphabetically; ids 0..VOCAB_SIZE-1, and VOCAB_SIZE stands for an
unknown word and for the padding, as in LEAF's line_to_indices. x int64 (n, 25): the first 25
words; y int64 (n,). The vocabulary goes to train/assets/vocab.json (words in id order).

Option `glove=FILE` (a glove.6B.300d.txt): the vocabulary's GloVe vectors become
train/assets/glove_embeddings.npy (VOCAB_SIZE + 1, 300) float32, zero for words GloVe lacks
and for the unknown row (LEAF's get_embs.py); the baseline model initialises its embedding
from it. Users are grouped into the profile's clients by tasks/leaf.py.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from afr_box.tasks.shared.hashing import sha256_file
from afr_box.tasks.shared.formats.leaf import grouping_note, read_leaf
from afr_box.tasks.shared.formats.leaf_text import build_word_vocab, client_count, leaf_sites, line_to_ids, read_glove
from afr_box.tasks.shared.prepared import write_prepared
from afr_box.tasks.shared.sources import DataSourceError

VOCAB_SIZE = 10000      # models.py sizes its embedding as VOCAB_SIZE + 1 rows
MAX_WORDS = 25          # LEAF's MODEL_PARAMS seq_len for sent140.stacked_lstm
GLOVE_DIM = 300
TEXT = 4                # index of the tweet text in a sample's attribute list
GLOVE_ASSET = "glove_embeddings.npy"
VOCAB_ASSET = "vocab.json"
SOURCE_HINT = ("no download: run LEAF's `./preprocess.sh --sf 0.5 -k 3 -s niid -t sample` in leaf/data/sent140, "
               "then afr-box data prepare sent140 --source leaf/data/sent140/data [--option glove=glove.6B.300d.txt]")


def tweet_text(sample, i: int) -> str:
    if not isinstance(sample, list) or len(sample) <= TEXT or not isinstance(sample[TEXT], str):
        raise DataSourceError(f"Sent140 sample {i}: expected LEAF's attribute list [id, date, query, user, text, ...] "
                              f"with the text at index {TEXT}, got {str(sample)[:80]}")
    return sample[TEXT]


def encoder(word2id: dict[str, int]):
    def encode(xs: list, ys: list) -> tuple[np.ndarray, np.ndarray]:
        x = [line_to_ids(tweet_text(s, i), word2id, MAX_WORDS, VOCAB_SIZE) for i, s in enumerate(xs)]
        if any(v not in (0, 1) or isinstance(v, bool) for v in ys):
            raise DataSourceError(f"Sent140 labels must be 0 or 1, got {sorted({repr(v) for v in ys})[:5]}")
        return np.asarray(x, dtype=np.int64).reshape(len(xs), MAX_WORDS), np.asarray(ys, dtype=np.int64)
    return encode


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare LEAF Sent140 from LEAF's data folder `source` into `dest` (option glove=FILE)."""
    options = options or {}
    num_clients = client_count(options, "sent140", ("glove",))
    if download or source is None:
        raise DataSourceError(f"sent140 cannot be downloaded here; {SOURCE_HINT}")
    train, test, digests = read_leaf(Path(source), "sent140")
    lines = [tweet_text(s, i) for u in train.users() for i, s in enumerate(train.x[u])]
    word2id = build_word_vocab(lines, VOCAB_SIZE)
    sites, groups = leaf_sites(train, test, num_clients, encoder(word2id))
    provenance = {
        "dataset": "LEAF Sent140 (tweet sentiment; users = accounts)",
        "files": digests,
        "users_per_client": [len(g) for g in groups],
        "grouping": grouping_note(),
        "vocabulary": (f"{len(word2id)} most frequent words of the training split (LEAF split_line; ties "
                       f"alphabetical), capacity {VOCAB_SIZE}; id {VOCAB_SIZE} = unknown and padding"),
        "max_words": MAX_WORDS,
        "split": "LEAF's own per-user train/test files, as given",
    }
    with tempfile.TemporaryDirectory(prefix="afr-sent140-") as tmp:
        assets = {VOCAB_ASSET: Path(tmp) / VOCAB_ASSET}
        assets[VOCAB_ASSET].write_text(json.dumps(sorted(word2id, key=word2id.get)))
        if options.get("glove"):
            matrix, found = read_glove(Path(options["glove"]), word2id, VOCAB_SIZE + 1, GLOVE_DIM)
            assets[GLOVE_ASSET] = Path(tmp) / GLOVE_ASSET
            np.save(assets[GLOVE_ASSET], matrix, allow_pickle=False)
            provenance["glove"] = {"file": Path(options["glove"]).name, "sha256": sha256_file(Path(options["glove"])),
                                   "words_found": found}
        return write_prepared(dest, "sent140", sites, provenance, assets=assets)
