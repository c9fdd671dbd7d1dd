"""The trusted scorer (runs in the base image only: no candidate code is importable there).

    python -m afr_box.sandbox.harness.scorer

Mounted read-only: the run file, the training outputs (/train: model.npz, train_stats.json),
the predictions (/predictions) and the hidden test labels (/labels). Checks that the budget
was really spent (rounds completed) and that the model respects the parameter cap, then
computes the profile's metric (from the registry in tasks/shared/metrics) per evaluation site and aggregates it by the profile's convention
(per_client_mean: FLamby; pooled: LEAF). Writes /out/score.json; exits OK when scored, SCORE_REFUSED otherwise.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from afr_box.sandbox.harness.exit_codes import ExitCode
from afr_box.sandbox.harness.paths import LABELS, MODEL_FILE, OUT, PREDICTIONS_IN, RUN_FILE, SCORE_FILE, TRAIN, TRAIN_STATS
from afr_box.sandbox.harness.run_file import RunFile
from afr_box.tasks.shared.metrics import compute


class ScoreRefused(Exception):
    """The outputs cannot be scored. `kind` is "budget" (rounds not spent, parameter cap
    exceeded: a rule was broken) or "output" (missing or malformed model/predictions)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def count_params(model_file: Path) -> int:
    """Parameters of the final model: the same file the inference container loaded."""
    try:
        with np.load(model_file, allow_pickle=False) as z:
            arrays = [z[k] for k in z.files]
    except (OSError, ValueError) as exc:
        raise ScoreRefused("output", f"model.npz is not a plain array archive: {exc}") from None
    # Floating-point arrays are the learnt parameters (and float buffers); integer counters are not.
    return int(sum(a.size for a in arrays if a.dtype.kind == "f"))


def load_prediction(path: Path, n: int) -> np.ndarray:
    if not path.is_file():
        raise ScoreRefused("output", f"no predictions for {path.stem}")
    pred = np.load(path, allow_pickle=False)
    if pred.shape[:1] != (n,):
        raise ScoreRefused("output", f"predictions for {path.stem} have shape {pred.shape}, expected {n} rows")
    return pred


def score(run: RunFile, train: Path, predictions: Path, labels: Path) -> dict[str, Any]:
    stats = json.loads((train / TRAIN_STATS).read_text())
    rounds = stats.get("rounds_completed")
    if rounds != run.budget["rounds"]:
        raise ScoreRefused("budget", f"rounds completed {rounds!r} != budget {run.budget['rounds']}")
    n_params = count_params(train / MODEL_FILE)
    if n_params > run.budget["max_model_params"]:
        raise ScoreRefused("budget", f"model has {n_params} parameters > max_model_params {run.budget['max_model_params']}")
    name, classes = run.metric["name"], run.metric.get("classes")
    per_client, ys, ps = {}, [], []
    for site in run.eval_sites:
        with np.load(labels / f"{site}.npz", allow_pickle=False) as z:
            y = z["y"]
        p = load_prediction(predictions / f"{site}.npy", len(y))
        try:
            per_client[site] = compute(name, y, p, classes)
        except ValueError as exc:
            raise ScoreRefused("output", f"{site}: {exc}") from None
        ys.append(y)
        ps.append(p)
    if run.metric["convention"] == "pooled":
        value = compute(name, np.concatenate(ys), np.concatenate(ps), classes)
    else:
        value = float(np.mean(list(per_client.values())))
    return {"score": value, "metric": run.metric["name"], "convention": run.metric["convention"],
            "per_client": per_client, "n_params": n_params, "rounds_completed": rounds}


def main(out: Path = Path(OUT)) -> int:
    run = RunFile.read(os.environ.get("AFR_RUN_FILE", RUN_FILE))
    try:
        record = score(run, Path(TRAIN), Path(PREDICTIONS_IN), Path(LABELS))
        code = ExitCode.OK
    except ScoreRefused as exc:
        record, code = {"score": None, "refused": str(exc), "refused_kind": exc.kind}, ExitCode.SCORE_REFUSED
    (out / SCORE_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
    print(json.dumps(record))
    return code


if __name__ == "__main__":
    sys.exit(main())
