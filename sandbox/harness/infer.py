"""The fixed inference step (runs in the candidate image: the model class is candidate code).

    python -m afr_box.sandbox.harness.infer

Mounted read-only: the run file, the final weights (/model/model.npz), the test *inputs*
(/data/<site>/, read lazily) and, for a held-out view, its index files (/rows/<site>.npy: the
row ids to predict, applied here, never a copy of the inputs). Writes one predictions array per
evaluation site to /out/predictions/<site>.npy.

How inputs reach the model is fixed per task: `tasks/<task>/predict.py` (fixed code, never in
a surface) may define `predict(model, site: SiteData) -> array` for tasks whose inputs are not
one batchable `x` (bags of tiles, volumes, token sequences); otherwise `x` is fed in batches.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from afr_box.sandbox.harness.exit_codes import ExitCode
from afr_box.sandbox.harness.paths import DATA, INFER_STATS, MODEL, OUT, PREDICTIONS, ROWS, RUN_FILE, SURFACE
from afr_box.sandbox.harness.run_file import RunFile
from afr_box.sandbox.harness.surface_import import activate, load_module
from afr_box.tasks.shared import site_env
from afr_box.tasks.shared.prepared import SiteData

BATCH = 1024


def predict_batches(model, site: SiteData) -> np.ndarray:
    """The default: the model's outputs for `x`, BATCH rows at a time."""
    import torch

    with torch.no_grad():
        parts = [model(torch.from_numpy(b["x"])) for b in site.batches(BATCH)]
    return (torch.cat(parts) if parts else torch.empty(0)).float().numpy()


def site_inputs(data: Path, site: str, rows: Path) -> SiteData:
    """A site's test inputs, restricted to a view's row ids when /rows holds them."""
    index = rows / f"{site}.npy"
    return SiteData(data / site, np.load(index, allow_pickle=False) if index.is_file() else None)


def task_predictor(task: str):
    try:
        module = importlib.import_module(f"afr_box.tasks.{task}.predict")
    except ModuleNotFoundError as exc:
        if exc.name != f"afr_box.tasks.{task}.predict":
            raise
        return predict_batches
    return module.predict


def main(out: Path = Path(os.environ.get("AFR_OUT", OUT)), model_file: Path = Path(MODEL),
         work: Path = Path("/tmp/afr-infer")) -> int:
    import torch

    torch.set_num_threads(1)
    run = RunFile.read(os.environ.get("AFR_RUN_FILE", RUN_FILE))
    surface = Path(os.environ.get("AFR_SURFACE", SURFACE))
    data = Path(os.environ.get("AFR_DATA_DIR", DATA))
    rows = Path(os.environ.get("AFR_ROWS_DIR", ROWS))
    view = activate(surface, run.task, work / "view")
    knobs = site_env.knobs()  # the view's knobs file (activate points AFR_SURFACE at it)
    models = load_module("models", view / run.task / "models.py")
    model = models.build_model(knobs.get("model", next(iter(models.MODELS))))
    with np.load(model_file, allow_pickle=False) as z:
        model.load_state_dict({k: torch.from_numpy(z[k]) for k in z.files}, strict=True)
    model.eval()
    predict = task_predictor(run.task)
    pred_dir = out / PREDICTIONS
    pred_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for site in run.eval_sites:
        inputs = site_inputs(data, site, rows)
        with torch.no_grad():
            pred = np.asarray(predict(model, inputs))
        np.save(pred_dir / f"{site}.npy", pred, allow_pickle=False)
        counts[site] = len(inputs)
    (out / INFER_STATS).write_text(json.dumps({"phase": "infer", "predicted": counts}, indent=2))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
