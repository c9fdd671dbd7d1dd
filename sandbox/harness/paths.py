"""Where things are inside a phase's container, and the names of what each phase writes.

The host mounts inputs at these paths and reads back exactly these outputs (sandbox/outputs.py
checks /out against them before anything is read), so both sides take the names from here.
"""
from __future__ import annotations

RUN_FILE = "/run/run.json"      # the read-only run file (budget, sites, metric)
OUT = "/out"                    # the one writable bind
TMP = "/tmp"                    # tmpfs: HOME and work folders
SURFACE = "/surface"            # the candidate image's surface layer
DATA = "/data"                  # train: the training sites; infer: the evaluation inputs
MODEL = "/model/model.npz"      # infer: the trained weights
TRAIN = "/train"                # score: the training outputs
PREDICTIONS_IN = "/predictions"  # score: the inference outputs
LABELS = "/labels"              # score: the hidden evaluation labels
ROWS = "/rows"                  # infer, score: a held-out view's row ids per site (absent: every row)

# What each phase writes to /out.
MODEL_FILE = "model.npz"
TRAIN_STATS = "train_stats.json"
ROUND_METRICS = "round_metrics.json"  # per round: the clients' reported metrics and the aggregate (round_metrics.py)
INFER_STATS = "infer_stats.json"
PREDICTIONS = "predictions"     # folder: one <site>.npy per evaluation site
SCORE_FILE = "score.json"
INIT_VIOLATION = "init_violation.json"  # written by the trusted init when it found stray processes

OUTPUTS = {"train": frozenset({MODEL_FILE, TRAIN_STATS, ROUND_METRICS}), "infer": frozenset({INFER_STATS, PREDICTIONS}),
           "score": frozenset({SCORE_FILE})}
ALWAYS = frozenset({INIT_VIOLATION})
