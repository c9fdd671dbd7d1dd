"""Local-training building blocks shared by the task clients (surface under architecture-open).

Kept apart from each task's client.py so the clients hold only what is task-specific
(data, loss, metric); a candidate may change these too, for its own image only.
"""
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn

from shared.aggregators import SCAFFOLD_DELTA_KEY, SCAFFOLD_GLOBAL_KEY, unpack_array


def round_generator(seed: int, site: str, current_round: int) -> torch.Generator:
    """One generator per (seed, site, round): runs are reproducible whatever the thread timing."""
    site_index = int(site.rsplit("-", 1)[-1])
    return torch.Generator().manual_seed(seed * 100_003 + site_index * 1_009 + current_round)


def batch_stream(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless shuffled mini-batch indices, reshuffled every epoch."""
    while True:
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]


def make_optimizer(model: nn.Module, knobs: dict) -> torch.optim.Optimizer:
    if knobs["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=knobs["lr"], weight_decay=knobs["weight_decay"])
    if knobs["optimizer"] == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=knobs["lr"], weight_decay=knobs["weight_decay"])
    raise ValueError(f"unknown optimizer {knobs['optimizer']!r}; use sgd or adamw")


def local_steps(model: nn.Module, loss_of_batch, n: int, knobs: dict, batch_size: int, gen: torch.Generator,
                correction: Optional[dict] = None, losses: Optional[list] = None) -> int:
    """Run `knobs['local_steps']` optimiser steps; `loss_of_batch(indices)` gives the task loss.
    Adds FedProx's proximal term (mu/2 ||w - w_global||^2) and gradient clipping when set, and
    SCAFFOLD's gradient correction (c - c_i, by parameter name) when given. Each step's task loss
    (before the proximal term) is appended to `losses` when given."""
    global_weights = [p.detach().clone() for p in model.parameters()]
    opt = make_optimizer(model, knobs)
    batches = batch_stream(n, batch_size, gen)
    model.train()
    for _ in range(knobs["local_steps"]):
        loss = loss_of_batch(next(batches))
        if losses is not None:
            losses.append(float(loss.detach()))
        if knobs["fedprox_mu"] > 0:
            prox = sum(((p - g) ** 2).sum() for p, g in zip(model.parameters(), global_weights))
            loss = loss + knobs["fedprox_mu"] / 2 * prox
        opt.zero_grad()
        loss.backward()
        if knobs["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), knobs["grad_clip"])
        if correction is not None:
            for name, p in model.named_parameters():
                if p.grad is not None:
                    p.grad.add_(correction[name])
        opt.step()
    return knobs["local_steps"]


def mean_loss(losses: list) -> float:
    """The round's mean training loss (NaN when training diverged: reported as such, marked in the report)."""
    return sum(losses) / len(losses) if losses else float("nan")


class ScaffoldClient:
    """SCAFFOLD's client side (Karimireddy et al., ICML 2020, Algorithm 1, option II), kept across
    rounds in the client process: its control variate c_i (zero at first) and the server's c from
    the received global model's meta. Does nothing unless `knobs['aggregator'] == 'scaffold'`, so a
    client that always calls it trains exactly as before under every other aggregator.

        steps = local_steps(..., correction=scaffold.correction(model, global_model))
        meta = {FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps, **scaffold.report(model, before, steps)}
    """

    def __init__(self, knobs: dict):
        self.on = knobs.get("aggregator") == "scaffold"
        self.lr = float(knobs.get("lr", 0.0))
        self.c_local: Optional[dict] = None
        self._c: Optional[dict] = None

    def correction(self, model: nn.Module, global_model) -> Optional[dict]:
        """c - c_i for each parameter (None when SCAFFOLD is off)."""
        if not self.on:
            return None
        names = [name for name, _ in model.named_parameters()]
        sent = (global_model.meta or {}).get(SCAFFOLD_GLOBAL_KEY) or {}
        if not sent and global_model.current_round:  # after round 0 the server's c must have come back
            raise ValueError(f"round {global_model.current_round}: the global model carries no SCAFFOLD control "
                             f"variate (meta[{SCAFFOLD_GLOBAL_KEY!r}]); aggregator: scaffold needs the Scaffold "
                             "aggregator on the server")
        params = dict(model.named_parameters())
        self._c = {k: torch.as_tensor(unpack_array(sent[k]), dtype=params[k].dtype) if k in sent
                   else torch.zeros_like(params[k]) for k in names}
        if self.c_local is None:
            self.c_local = {k: torch.zeros_like(params[k]) for k in names}
        return {k: self._c[k] - self.c_local[k] for k in names}

    def report(self, model: nn.Module, before: dict, steps: int) -> dict:
        """Update c_i (option II: c_i+ = c_i - c + (x - y_i) / (K lr)) and return the meta entry
        with its change; {} when SCAFFOLD is off."""
        if not self.on:
            return {}
        if not steps or not self.lr:
            raise ValueError("SCAFFOLD needs local_steps > 0 and lr > 0 to update its control variate")
        delta, new = {}, {}
        for name, p in model.named_parameters():
            new[name] = self.c_local[name] - self._c[name] + (before[name] - p.detach()) / (steps * self.lr)
            delta[name] = (new[name] - self.c_local[name]).cpu().numpy()
        self.c_local = new
        return {SCAFFOLD_DELTA_KEY: delta}
