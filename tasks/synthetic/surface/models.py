"""Registered model variants for LEAF Synthetic (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Constructors seed their own initialisation.
"""
import torch
from torch import nn

NUM_FEATURES, NUM_CLASSES = 60, 5


class MultinomialLogReg(nn.Module):
    """LEAF's Synthetic baseline: multinomial logistic regression, Linear(60, 5) -> class logits."""

    def __init__(self, in_features: int = NUM_FEATURES, classes: int = NUM_CLASSES, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.linear = nn.Linear(in_features, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class MLP(nn.Module):
    """One hidden layer of 32 ReLU units -> class logits (60*32 + 32 + 32*5 + 5 = 2,117 parameters)."""

    def __init__(self, in_features: int = NUM_FEATURES, classes: int = NUM_CLASSES, hidden: int = 32,
                 init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


MODELS = {"logreg": MultinomialLogReg, "mlp": MLP}


def build_model(name: str = "logreg") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
