"""Registered model variants for Fed-Heart-Disease (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
"""
import torch
from torch import nn

NUM_FEATURES = 13


class LogisticRegression(nn.Module):
    """FLamby's baseline: Linear(13, 1) + sigmoid (14 parameters)."""

    def __init__(self, in_features: int = NUM_FEATURES, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.linear = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x)).squeeze(-1)


MODELS = {"logreg": LogisticRegression}


def build_model(name: str = "logreg") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
