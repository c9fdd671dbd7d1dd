"""Sanity figures for the LEAF text tasks on their format-exact fixtures (no real data here).

    python benchmarks/leaf_text_sanity.py [--steps 300] [--lr TASK=VALUE ...]

Per task: the fixture is prepared by the task's bridge into one client, the baseline model
(models.py, knobs.yaml) is trained centrally for --steps SGD steps of the profile's batch size
(one CPU thread), and the task's own metric (through predict.py where the task has one) is
taken on the fixture's test split before and after. Shows that bridge, model, loss, predict
step and metric fit together and learn; the fixture text is synthetic, so the accuracies say
nothing about LEAF's benchmarks.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.leaf_text_models import bridge_models  # noqa: E402
from fixtures.reddit_format import write_reddit  # noqa: E402
from fixtures.sent140_format import write_sent140  # noqa: E402
from fixtures.shakespeare_format import write_shakespeare  # noqa: E402

from afr_box.profiles.schema import load_profile  # noqa: E402
from afr_box.tasks.shared.metrics import compute  # noqa: E402
from afr_box.tasks.shared.prepared import SiteData  # noqa: E402

FIXTURES = {"shakespeare": lambda p: write_shakespeare(p), "sent140": lambda p: write_sent140(p, users=8),
            "reddit": lambda p: write_reddit(p, users=10)}


def measure(task: str, tmp: Path, steps: int, lr: float | None) -> dict:
    bridge = importlib.import_module(f"afr_box.tasks.{task}.bridge")
    spec = load_profile(task).metric
    try:
        predict = importlib.import_module(f"afr_box.tasks.{task}.predict").predict
    except ModuleNotFoundError:
        predict = lambda model, site: model(torch.from_numpy(site.batch(np.arange(len(site)))["x"])).numpy()  # noqa: E731
    dest = bridge.prepare(tmp / "out" / task, source=FIXTURES[task](tmp / task), options={"num_clients": 1})
    train_site, test = SiteData(dest / "train/site-1"), SiteData(dest / "test_inputs/site-1")
    train = train_site.batch(np.arange(len(train_site)))  # a fixture: small enough to hold whole
    labels = np.load(dest / "test_labels/site-1/y.npy")
    knobs = yaml.safe_load((ROOT / "tasks" / task / "surface" / "knobs.yaml").read_text())
    batch = yaml.safe_load((ROOT / "profiles" / f"{task}.yaml").read_text())["budget"]["batch_size"]
    lr = knobs["lr"] if lr is None else lr
    model = bridge_models(task).build_model(knobs["model"])
    x, y = torch.from_numpy(train["x"]), torch.from_numpy(train["y"])
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    cross_entropy = torch.nn.CrossEntropyLoss(ignore_index=-1)

    def evaluate() -> float:
        model.eval()
        with torch.no_grad():
            value = compute(spec.name, labels, np.asarray(predict(model, test)), spec.classes)
        model.train()
        return value

    before = evaluate()
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(len(y), (batch,), generator=gen)
        out = model(x[idx])
        loss = cross_entropy(out.reshape(-1, out.shape[-1]), y[idx].reshape(-1))
        opt.zero_grad()
        loss.backward()
        if knobs["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), knobs["grad_clip"])
        opt.step()
    per_step = (time.perf_counter() - start) / steps
    return {"task": task, "params": sum(p.numel() for p in model.parameters()), "train": len(y),
            "test": len(labels), "batch": batch, "lr": lr, "steps": steps, "metric_before": round(before, 4),
            "metric_after": round(evaluate(), 4), "s_per_step_1cpu": round(per_step, 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", action="append", default=[], help="TASK=VALUE: override the baseline lr")
    parser.add_argument("--task", action="append", choices=sorted(FIXTURES))
    args = parser.parse_args()
    lrs = {k: float(v) for k, v in (item.split("=", 1) for item in args.lr)}
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.task or FIXTURES:
            print(json.dumps(measure(task, Path(tmp), args.steps, lrs.get(task))), flush=True)


if __name__ == "__main__":
    main()
