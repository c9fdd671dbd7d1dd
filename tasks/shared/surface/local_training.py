"""Local-training building blocks shared by the task clients (surface under architecture-open).

Kept apart from each task's client.py so the clients hold only what is task-specific
(data, loss, metric); a candidate may change these too, for its own image only.
"""
from typing import Iterator

import torch
from torch import nn


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


def local_steps(model: nn.Module, loss_of_batch, n: int, knobs: dict, batch_size: int, gen: torch.Generator) -> int:
    """Run `knobs['local_steps']` optimiser steps; `loss_of_batch(indices)` gives the task loss.
    Adds FedProx's proximal term (mu/2 ||w - w_global||^2) and gradient clipping when set."""
    global_weights = [p.detach().clone() for p in model.parameters()]
    opt = make_optimizer(model, knobs)
    batches = batch_stream(n, batch_size, gen)
    model.train()
    for _ in range(knobs["local_steps"]):
        loss = loss_of_batch(next(batches))
        if knobs["fedprox_mu"] > 0:
            prox = sum(((p - g) ** 2).sum() for p, g in zip(model.parameters(), global_weights))
            loss = loss + knobs["fedprox_mu"] / 2 * prox
        opt.zero_grad()
        loss.backward()
        if knobs["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), knobs["grad_clip"])
        opt.step()
    return knobs["local_steps"]
