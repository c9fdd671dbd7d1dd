"""The trusted scorer (runs in the base image only: no candidate code is importable there).

    python -m afr_box.sandbox.harness.scorer

Mounted read-only: the run file, the training outputs (/train: model.npz, train_stats.json),
the predictions (/predictions), the hidden test labels (/labels/<site>/y.npy) and, for a
held-out view, its row ids (/rows/<site>.npy, applied to the labels as inference applied them
to the inputs). Checks that the budget was really spent (rounds completed) and that the model
respects the parameter cap (every numeric array of the final weights, whatever its dtype) and
the byte cap, then
computes the profile's metric (from the registry in tasks/shared/metrics) per evaluation site and aggregates it by the profile's convention
(per_client_mean: FLamby; pooled: LEAF). Writes /out/score.json; exits OK when scored, SCORE_REFUSED otherwise.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from afr_box.sandbox.harness.exit_codes import ExitCode
from afr_box.sandbox.harness.paths import LABELS, MODEL_FILE, OUT, PREDICTIONS_IN, ROWS, RUN_FILE, SCORE_FILE, TRAIN, TRAIN_STATS
from afr_box.sandbox.harness.run_file import RunFile
from afr_box.tasks.shared.metrics import compute


class ScoreRefused(Exception):
    """The outputs cannot be scored. `kind` is "budget" (rounds not spent, parameter cap
    exceeded: a rule was broken) or "output" (missing or malformed model/predictions)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# Array kinds that can be weights: bool, signed and unsigned integers, floats, complex. Anything
# else (bytes, strings, void/structured records, datetimes) has no place in a model's state.
NUMERIC_KINDS = frozenset("biufc")
BYTES_PER_PARAM = 8  # the byte cap, unless the profile sets max_model_bytes: the cap's parameters as float64
MAX_ARRAYS = 100_000  # entries of a state dict (an EfficientNet has a few hundred)
HEADER_ALLOWANCE = 4096  # per array: the .npy header around its data


def model_arrays(model_file: Path) -> list[tuple[str, np.dtype, int]]:
    """(name, dtype, element count) of every array in model.npz, read from the .npy headers only,
    so that a model too big for its caps is refused before any of its data is read or inflated.
    Each member's declared size must match its header (a reader inflates no more than that)."""
    try:
        with zipfile.ZipFile(model_file) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ARRAYS:
                raise ScoreRefused("budget", f"model.npz holds {len(infos)} arrays (at most {MAX_ARRAYS})")
            found = []
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ScoreRefused("output", f"model.npz holds {info.filename!r}, not an array")
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                    if read_header is None:
                        raise ScoreRefused("output", f"{info.filename}: .npy format {version} is not read here")
                    shape, _, dtype = read_header(f)
                count = int(np.prod(shape, dtype=object))
                if info.file_size > count * dtype.itemsize + HEADER_ALLOWANCE:
                    raise ScoreRefused("output", f"{info.filename}: {info.file_size} bytes for a {dtype.str} "
                                                 f"array of shape {shape}")
                found.append((info.filename[:-4], dtype, count))
            return found
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ScoreRefused("output", f"model.npz is not a plain array archive: {exc}") from None


def count_params(model_file: Path) -> tuple[int, int]:
    """(parameters, bytes) of the final model (the same file the inference container loaded):
    every element of every array, whatever its dtype. int8 codes dequantised in forward, an
    int32 buffer of training rows, BatchNorm's counters: all are state the model carries, and
    all count. An array that is not numeric is refused."""
    total, nbytes = 0, 0
    for name, dtype, count in model_arrays(model_file):
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.shape != ():
            raise ScoreRefused("budget", f"model array {name!r} has dtype {dtype.str!r}: weights are numeric arrays")
        total += count
        nbytes += count * dtype.itemsize
    return total, nbytes


def weights_digest(model_file: Path) -> str:
    """sha256 of the arrays themselves (names, headers and data, in name order): the same weights
    give the same digest whatever the zip's timestamps (repeat tables compare seeds with it)."""
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(model_file) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                digest.update(info.filename.encode("utf-8", "surrogateescape") + b"\0")
                with zf.open(info) as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        digest.update(chunk)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:  # e.g. a CRC that does not match
        raise ScoreRefused("output", f"model.npz cannot be read: {exc}") from None
    return digest.hexdigest()


def load_prediction(path: Path, n: int) -> np.ndarray:
    if not path.is_file():
        raise ScoreRefused("output", f"no predictions for {path.stem}")
    pred = np.load(path, allow_pickle=False)
    if pred.shape[:1] != (n,):
        raise ScoreRefused("output", f"predictions for {path.stem} have shape {pred.shape}, expected {n} rows")
    return pred


def site_labels(labels: Path, site: str, rows: Path) -> np.ndarray:
    """A site's labels (the whole array: metrics need every one), restricted to a view's rows."""
    y = np.load(labels / site / "y.npy", mmap_mode="r", allow_pickle=False)
    index = rows / f"{site}.npy"
    return np.array(y[np.load(index, allow_pickle=False)] if index.is_file() else y)


def local_compute(stats: dict[str, Any], run: RunFile) -> dict[str, float]:
    """Each site's CPU seconds (the runner's fork server counted them, outside every candidate
    process; what left its worker's session counts to every site), held against the run file's
    bound: ScoreRefused("budget") for a site over it."""
    counted = stats.get("site_cpu_s") or {}
    if not isinstance(counted, dict):
        raise ScoreRefused("output", "train_stats.json's site_cpu_s is not a mapping")
    shared = float(stats.get("unattributed_cpu_s") or 0.0)
    used = {site: round(float(counted.get(site, 0.0)) + shared, 3) for site in run.sites if site in counted}
    bound = run.compute_bound
    if not bound:
        return used
    if not stats.get("cpu_accounting_complete"):
        raise ScoreRefused("output", "the local compute was not counted to the end (the fork server did not stop "
                                     "cleanly): it cannot be held against the bound")
    limit = float(bound["site_cpu_s"])
    over = {site: cpu for site, cpu in used.items() if cpu > limit}
    if over:
        site, cpu = max(over.items(), key=lambda item: item[1])
        raise ScoreRefused("budget", f"local compute: {site}'s client used {cpu:.1f} s of CPU > the bound "
                                     f"{limit:.1f} s ({bound.get('how', 'the campaign bound')})")
    return used


def score(run: RunFile, train: Path, predictions: Path, labels: Path, rows: Path = Path(ROWS)) -> dict[str, Any]:
    stats = json.loads((train / TRAIN_STATS).read_text())
    rounds = stats.get("rounds_completed")
    if rounds != run.budget["rounds"]:
        raise ScoreRefused("budget", f"rounds completed {rounds!r} != budget {run.budget['rounds']}")
    # Who trained in which round, as the server's collector recorded it (no candidate code runs there).
    took_part = stats.get("site_rounds") or {}
    short = {site: took_part.get(site, 0) for site in run.sites if took_part.get(site, 0) != rounds}
    if short:
        site, n = sorted(short.items())[0]
        raise ScoreRefused("budget", f"{site} took part in {n} of the {rounds} rounds (the server's record)")
    site_cpu = local_compute(stats, run)
    cap = run.budget["max_model_params"]
    max_bytes = run.budget.get("max_model_bytes") or BYTES_PER_PARAM * cap
    n_params, n_bytes = count_params(train / MODEL_FILE)  # from the headers: no data read yet
    if n_params > cap:
        raise ScoreRefused("budget", f"model has {n_params} parameters > max_model_params {cap}")
    if n_bytes > max_bytes:
        raise ScoreRefused("budget", f"model arrays take {n_bytes} bytes > max_model_bytes {max_bytes}")
    name, classes = run.metric["name"], run.metric.get("classes")
    per_client, ys, ps = {}, [], []
    for site in run.eval_sites:
        y = site_labels(labels, site, rows)
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
            "per_client": per_client, "n_params": n_params, "rounds_completed": rounds, "site_cpu_s": site_cpu,
            "compute_bound_s": (run.compute_bound or {}).get("site_cpu_s"),
            "weights_sha256": weights_digest(train / MODEL_FILE)}


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
