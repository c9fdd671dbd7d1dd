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


class QuadraticLogistic(nn.Module):
    """Logistic regression over the features and their pairwise products x_i x_j (i <= j): a
    quadratic decision boundary, still a linear model in its inputs (13 + 91 + 1 = 105 parameters)."""

    def __init__(self, in_features: int = NUM_FEATURES, init_seed: int = 0):
        super().__init__()
        rows, cols = torch.triu_indices(in_features, in_features)
        self.register_buffer("pairs_i", rows, persistent=False)
        self.register_buffer("pairs_j", cols, persistent=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.linear = nn.Linear(in_features + len(rows), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        quadratic = x[:, self.pairs_i] * x[:, self.pairs_j]
        return torch.sigmoid(self.linear(torch.cat([x, quadratic], dim=1))).squeeze(-1)


class SmallMLP(nn.Module):
    """One hidden layer of 16 ReLU units, sigmoid output (13*16 + 16 + 16 + 1 = 241 parameters)."""

    def __init__(self, in_features: int = NUM_FEATURES, hidden: int = 16, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x)).squeeze(-1)


MODELS = {"logreg": LogisticRegression, "quadratic": QuadraticLogistic, "mlp": SmallMLP}


def build_model(name: str = "logreg") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
