"""LEAF Synthetic client training script (surface: NVFlare Client API).

Each round: receive the global model, train `local_steps` mini-batches on this site's
training data, send back the weight DIFF with the step count as aggregation weight.
Knobs come from knobs.yaml; the budget (batch size, seed, step bounds) from the run file.
"""
import numpy as np
import torch
from torch import nn

import nvflare.client as flare
from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.tasks.site_env import budget, knobs, load_arrays
from models import build_model


def batch_stream(n: int, batch_size: int, gen: torch.Generator):
    """Endless shuffled mini-batches (reshuffled every epoch), driven by a seeded generator."""
    while True:
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]


def make_optimizer(model: nn.Module, cfg: dict) -> torch.optim.Optimizer:
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    if cfg["optimizer"] == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    raise ValueError(f"unknown optimizer {cfg['optimizer']!r}")


def train_round(model, x, y, cfg, batch_size, gen) -> int:
    global_weights = [p.detach().clone() for p in model.parameters()]
    opt = make_optimizer(model, cfg)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])
    batches = batch_stream(len(y), batch_size, gen)
    model.train()
    for _ in range(cfg["local_steps"]):
        idx = next(batches)
        loss = loss_fn(model(x[idx]), y[idx])
        if cfg["fedprox_mu"] > 0:  # FedProx proximal term keeps the local model near the global one
            prox = sum(((p - g) ** 2).sum() for p, g in zip(model.parameters(), global_weights))
            loss = loss + cfg["fedprox_mu"] / 2 * prox
        opt.zero_grad()
        loss.backward()
        if cfg["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
    return cfg["local_steps"]


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def main():
    torch.set_num_threads(1)
    cfg, fixed = knobs(), budget()
    flare.init()
    site = flare.get_site_name()
    arrays = load_arrays(site)
    x, y = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]).long()
    model = build_model(cfg["model"])
    site_index = int(site.rsplit("-", 1)[-1])

    while flare.is_running():
        global_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"accuracy": accuracy(model, x, y)}))
            continue
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        # One generator per (seed, site, round): runs are reproducible whatever the thread timing.
        gen = torch.Generator().manual_seed(fixed["seed"] * 100_003 + site_index * 1_009 + global_model.current_round)
        steps = train_round(model, x, y, cfg, fixed["batch_size"], gen)
        diff = {k: v - before[k] for k, v in model.state_dict().items()}
        flare.send(FLModel(
            params=diff,
            params_type=ParamsType.DIFF,
            metrics={"train_accuracy": accuracy(model, x, y)},
            meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps},
        ))


if __name__ == "__main__":
    main()
