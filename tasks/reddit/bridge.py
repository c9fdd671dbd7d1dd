"""LEAF Reddit data bridge (fixed code): next-token prediction, users = Reddit accounts.

Reads the folder of LEAF's preprocessed Reddit data (leaf/data/reddit/data, holding train/ and
test/ JSON shards, as downloaded from LEAF's link or written by source/preprocess.py) and LEAF's
vocabulary (reddit_vocab.pck, written by `python build_vocab.py --data-dir ./data/train
--target-dir vocab`). A user's x is a list of comments, each a list of 10-token sequences
(`<BOS>` words `<EOS>`, padded with `<PAD>`); y is a list of dicts, one per comment, whose
`target_tokens` are the same sequences shifted by one token and `count_tokens` their 1/0 mask.

Stored per client, comments flattened into sequences as LEAF's batch_data does: x int64 (n, 10)
token ids and y int64 (n, 10) target ids, -1 where the input token is padding (positions LEAF's
accuracy does not count: it divides by the non-padding input tokens). Unknown tokens -> the
vocabulary's unk_symbol. LEAF's build_vocab.py always writes pad_symbol 0 and unk_symbol 1; the
metric relies on that (a prediction of either counts as wrong), so other vocabularies are refused.

The vocabulary is a pickle: it is read by an unpickler that allows no global at all (LEAF's is a
plain dict), or give the same keys as JSON (`--option vocab=reddit_vocab.json`). The
`num_samples` of LEAF's Reddit files count the comments of the unsplit user and are not checked;
LEAF's val/ split is not used. Users are grouped into the profile's clients by tasks/leaf.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from afr_box.tasks.shared.hashing import sha256_file
from afr_box.tasks.shared.formats.leaf import grouping_note, read_leaf
from afr_box.tasks.shared.formats.leaf_text import client_count, leaf_sites, load_token_vocab, tokens_to_ids
from afr_box.tasks.shared.prepared import write_prepared
from afr_box.tasks.shared.sources import DataSourceError

SEQ_LEN = 10
VOCAB_SIZE = 10000          # models.py: embedding and softmax rows
PAD, UNK = 0, 1             # LEAF build_vocab.py's pad_symbol and unk_symbol
NOT_COUNTED = -1
VOCAB_NAMES = ("reddit_vocab.pck", "reddit_vocab.json")
SOURCE_HINT = ("no download: get LEAF's Reddit data (leaf/data/reddit/README.md) into leaf/data/reddit/data, run "
               "`python build_vocab.py --data-dir ./data/train --target-dir vocab`, then afr-box data prepare reddit "
               "--source leaf/data/reddit/data (vocabulary found in ../vocab/ or given with --option vocab=FILE)")


def find_vocab(source: Path, given: str | None) -> Path:
    """The vocabulary file: `given`, else reddit_vocab.pck/.json in source/ or LEAF's ../vocab/."""
    if given:
        if not Path(given).is_file():
            raise DataSourceError(f"reddit vocabulary {given} does not exist")
        return Path(given)
    places = [folder / name for folder in (source, source.parent / "vocab") for name in VOCAB_NAMES]
    for place in places:
        if place.is_file():
            return place
    raise DataSourceError(f"no reddit vocabulary: looked for {', '.join(str(p) for p in places)}; run LEAF's "
                          f"`python build_vocab.py --data-dir ./data/train --target-dir vocab` or pass --option vocab=FILE")


def _sequences(value, what: str, where: str, kind) -> list:
    if not isinstance(value, list) or not all(isinstance(s, list) and len(s) == SEQ_LEN and
                                              all(isinstance(t, kind) for t in s) for s in value):
        raise DataSourceError(f"Reddit {where}: {what} must be a list of {SEQ_LEN}-token sequences "
                              f"(LEAF's preprocess.py), got {str(value)[:80]}")
    return value


def encoder(vocab: dict):
    def encode(comments: list, labels: list) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for i, (comment, label) in enumerate(zip(comments, labels)):
            where = f"comment {i}"
            seqs = _sequences(comment, "x", where, str)
            if not isinstance(label, dict) or "target_tokens" not in label:
                raise DataSourceError(f"Reddit {where}: y must be a dict with target_tokens and count_tokens")
            targets = _sequences(label["target_tokens"], "target_tokens", where, str)
            if len(targets) != len(seqs):
                raise DataSourceError(f"Reddit {where}: {len(seqs)} input sequences but {len(targets)} target sequences")
            for seq, target in zip(seqs, targets):
                x = tokens_to_ids(seq, vocab)
                y = tokens_to_ids(target, vocab)
                xs.append(x)
                ys.append([t if s != PAD else NOT_COUNTED for s, t in zip(x, y)])
        return (np.asarray(xs, dtype=np.int64).reshape(-1, SEQ_LEN), np.asarray(ys, dtype=np.int64).reshape(-1, SEQ_LEN))
    return encode


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare LEAF Reddit from LEAF's data folder `source` into `dest` (option vocab=FILE)."""
    options = options or {}
    num_clients = client_count(options, "reddit", ("vocab",))
    if download or source is None:
        raise DataSourceError(f"reddit cannot be downloaded here; {SOURCE_HINT}")
    source = Path(source)
    train, test, digests = read_leaf(source, "reddit", check_num_samples=False)
    vocab_file = find_vocab(source, options.get("vocab"))
    vocab = load_token_vocab(vocab_file)
    if (vocab["pad_symbol"], vocab["unk_symbol"]) != (PAD, UNK) or vocab["size"] > VOCAB_SIZE:
        raise DataSourceError(f"{vocab_file}: expected LEAF's vocabulary (pad_symbol {PAD}, unk_symbol {UNK}, size <= "
                              f"{VOCAB_SIZE}), got pad {vocab['pad_symbol']}, unk {vocab['unk_symbol']}, size {vocab['size']}")
    sites, groups = leaf_sites(train, test, num_clients, encoder(vocab))
    provenance = {
        "dataset": "LEAF Reddit (next token; users = accounts; December 2017 pushshift comments)",
        "files": digests,
        "vocabulary": {"file": vocab_file.name, "sha256": sha256_file(vocab_file), "size": vocab["size"],
                       "tokens": len(vocab["vocab"]), "pad_symbol": PAD, "unk_symbol": UNK},
        "users_per_client": [len(g) for g in groups],
        "grouping": grouping_note(),
        "encoding": "comments flattened into 10-token sequences; y = target ids, -1 where the input is padding",
        "split": "LEAF's own per-user train/test files (val/ unused), as given",
    }
    return write_prepared(dest, "reddit", sites, provenance)
