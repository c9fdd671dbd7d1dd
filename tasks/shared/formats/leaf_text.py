"""Text encoding shared by the LEAF text bridges (fixed code): Shakespeare, Sent140, Reddit.

Each function reproduces what LEAF's reference models do to their raw JSON samples
(leaf/models/utils/language_utils.py and leaf/models/reddit/stacked_lstm.py), so that the
arrays we store are the ones LEAF's models are fed:

- Shakespeare: every character -> its index in ALL_LETTERS (`word_to_indices`).
- Sent140: the tweet text (attribute 4) split by `split_line`'s regular expression, the
  first `max_words` words looked up, unknown and padding both = len(vocabulary)
  (`line_to_indices`).
- Reddit: tokens looked up in LEAF's vocabulary pickle (`reddit_vocab.pck`, written by
  leaf/data/reddit/build_vocab.py), unknown tokens -> its unk_symbol.

Users are grouped into clients by tasks/leaf.py; `leaf_sites` encodes every client's samples.
"""
from __future__ import annotations

import collections
import io
import json
import pickle
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from afr_box.tasks.shared.formats.leaf import LeafSplit, client_samples, group_users
from afr_box.tasks.shared.prepared import SiteSplit
from afr_box.tasks.shared.sources import DataSourceError

# ---------------------------------------------------------------- Shakespeare (characters)

# LEAF's ALL_LETTERS (language_utils.py): the 80 characters of the next-character task.
ALL_LETTERS = "\n !\"&'(),-.0123456789:;>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz}"
NUM_LETTERS = len(ALL_LETTERS)
_LETTER_ID = {c: i for i, c in enumerate(ALL_LETTERS)}


def letters_to_ids(text: str) -> list[int]:
    """Character ids as LEAF's word_to_indices; a character outside ALL_LETTERS is an error
    (LEAF would look up index -1, which its TensorFlow embedding rejects)."""
    try:
        return [_LETTER_ID[c] for c in text]
    except KeyError as exc:
        raise DataSourceError(f"character {exc.args[0]!r} is not in LEAF's 80-letter alphabet "
                              f"(ALL_LETTERS); is this LEAF Shakespeare data?") from None


# ---------------------------------------------------------------- Sent140 (words)

_WORDS = re.compile(r"[\w']+|[.,!?;]")


def split_line(line: str) -> list[str]:
    """LEAF's split_line: runs of word characters/apostrophes, and . , ! ? ; on their own."""
    return _WORDS.findall(line)


def build_word_vocab(lines: Iterable[str], size: int) -> dict[str, int]:
    """The `size` most frequent words of `lines` (ties broken by the word), ids 0..size-1 in
    that order. Deterministic: the same lines give the same vocabulary whatever their order."""
    counts = collections.Counter(w for line in lines for w in split_line(line))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
    return {word: i for i, (word, _) in enumerate(ranked)}


def line_to_ids(line: str, word2id: Mapping[str, int], max_words: int, unk_id: int) -> list[int]:
    """LEAF's line_to_indices: the first max_words words, unknown words and the padding up to
    max_words both `unk_id` (LEAF: len(word2id))."""
    ids = [word2id.get(w, unk_id) for w in split_line(line)[:max_words]]
    return ids + [unk_id] * (max_words - len(ids))


def read_glove(path: Path, word2id: Mapping[str, int], rows: int, dim: int = 300) -> tuple[np.ndarray, int]:
    """Embedding matrix (rows, dim) float32 for a vocabulary from a GloVe text file
    (glove.6B.300d.txt: `word v1 ... v300` per line); words GloVe lacks, and the unknown/padding
    row, stay zero as in LEAF's get_embs.py. Returns (matrix, words found)."""
    path = Path(path)
    if not path.is_file():
        raise DataSourceError(f"GloVe file {path} does not exist; pass glove.6B.300d.txt "
                              f"(from https://nlp.stanford.edu/data/glove.6B.zip)")
    matrix = np.zeros((rows, dim), dtype=np.float32)
    found = 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for lineno, line in enumerate(lines, 1):
            parts = line.rstrip("\n").split(" ")
            if len(parts) != dim + 1:
                raise DataSourceError(f"{path} line {lineno}: {len(parts) - 1} values, expected a word "
                                      f"and {dim} numbers (glove.6B.{dim}d.txt format)")
            row = word2id.get(parts[0])
            if row is None:
                continue
            try:
                matrix[row] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise DataSourceError(f"{path} line {lineno}: values are not numbers") from None
            found += 1
    if not np.isfinite(matrix).all():
        raise DataSourceError(f"{path}: embeddings contain non-finite values")
    return matrix, found


# ---------------------------------------------------------------- Reddit (tokens)

VOCAB_KEYS = ("vocab", "size", "unk_symbol", "pad_symbol")


class _NoGlobals(pickle.Unpickler):
    """LEAF's vocabulary pickle is a plain dict of str/int: no class is ever needed to load it,
    so none is allowed (a pickle naming any global could run code)."""

    def find_class(self, module: str, name: str):
        raise DataSourceError(f"the vocabulary pickle refers to {module}.{name}; only plain dicts, "
                              f"strings and integers are accepted (LEAF's build_vocab.py writes those)")


def load_token_vocab(path: Path) -> dict[str, Any]:
    """LEAF's Reddit vocabulary {vocab: {token: id}, size, unk_symbol, pad_symbol} from
    reddit_vocab.pck (loaded without allowing any global) or the same keys as JSON."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            data = _NoGlobals(io.BytesIO(path.read_bytes())).load()
    except DataSourceError:
        raise
    except Exception as exc:  # a corrupt or hostile file: name it, never trust it
        raise DataSourceError(f"{path}: not a readable vocabulary ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or set(data) < set(VOCAB_KEYS):
        raise DataSourceError(f"{path}: a LEAF vocabulary needs keys {', '.join(VOCAB_KEYS)}")
    vocab, size = data["vocab"], data["size"]
    ints = [size, data["unk_symbol"], data["pad_symbol"]]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints) or not isinstance(vocab, dict):
        raise DataSourceError(f"{path}: size, unk_symbol, pad_symbol must be integers and vocab a dict")
    if not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and 0 <= v < size
               for k, v in vocab.items()):
        raise DataSourceError(f"{path}: vocab must map token strings to ids in [0, size={size})")
    if not (0 <= data["unk_symbol"] < size and 0 <= data["pad_symbol"] < size):
        raise DataSourceError(f"{path}: unk_symbol and pad_symbol must lie in [0, size={size})")
    return {k: data[k] for k in VOCAB_KEYS}


def tokens_to_ids(tokens: Iterable[str], vocab: Mapping[str, Any]) -> list[int]:
    """Token ids as LEAF's reddit model (a defaultdict falling back to unk_symbol)."""
    table, unk = vocab["vocab"], vocab["unk_symbol"]
    return [table.get(t, unk) for t in tokens]


# ---------------------------------------------------------------- clients

Encoder = Callable[[list[Any], list[Any]], tuple[Any, np.ndarray]]


def leaf_sites(train: LeafSplit, test: LeafSplit, num_clients: int, encode: Encoder) -> tuple[list[SiteSplit], list[list[str]]]:
    """Users grouped into clients (tasks/leaf.py), each client's raw x/y encoded by `encode`
    (raw xs, raw ys) -> (inputs, labels). Every client needs training and test samples."""
    groups = group_users(set(train.users()) | set(test.users()), num_clients)
    sites = []
    for c, users in enumerate(groups):
        parts = []
        for split, name in ((train, "train"), (test, "test")):
            xs, ys = client_samples(split, users)
            if not xs:
                raise DataSourceError(f"client {c + 1} (users {users[:3]}...) has no {name} samples; "
                                      f"use LEAF's per-user split (-t sample) or fewer clients")
            parts.append(encode(xs, ys))
        sites.append(SiteSplit(parts[0][0], parts[0][1], parts[1][0], parts[1][1]))
    return sites, groups


def client_count(options: Mapping[str, Any], task: str, known: Iterable[str]) -> int:
    """The `num_clients` option (the profile's budget.clients); any other unknown option is an error."""
    unknown = sorted(set(options) - set(known) - {"num_clients"})
    if unknown:
        raise ValueError(f"unknown {task} data option(s) {unknown}; known: {sorted([*known, 'num_clients'])}")
    value = options.get("num_clients")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{task} needs option num_clients (the profile's budget.clients), got {value!r}")
    return value
