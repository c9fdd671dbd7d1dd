"""Registered model variants for Fed-TCGA-BRCA (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
The output is a risk score (log hazard, higher = earlier event): the Cox loss in client.py
and the C-index in the fixed metric both read it that way.
"""
import torch
from torch import nn

NUM_FEATURES = 39


class CoxLinear(nn.Module):
    """FLamby's baseline: Linear(39, 1), a linear Cox model (40 parameters)."""

    def __init__(self, in_features: int = NUM_FEATURES, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.linear = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


class CoxMLP(nn.Module):
    """A non-linear Cox head: one hidden layer of 32 ReLU units -> log hazard
    (39*32 + 32 + 32 + 1 = 1,313 parameters)."""

    def __init__(self, in_features: int = NUM_FEATURES, hidden: int = 32, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


MODELS = {"cox_linear": CoxLinear, "cox_mlp": CoxMLP}


def build_model(name: str = "cox_linear") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
