"""Registered model variants for LEAF FEMNIST (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
"""
import torch
from torch import nn

IMAGE_SIZE, NUM_CLASSES = 28, 62


class LeafCNN(nn.Module):
    """LEAF's FEMNIST baseline (models/femnist/cnn.py), in torch: conv5x5 32 'same' + ReLU,
    maxpool 2, conv5x5 64 'same' + ReLU, maxpool 2, dense 2048 + ReLU, dense 62 (class logits).
    Input: the 784 flattened grey levels as prepared (uint8 0-255), scaled to LEAF's [0, 1]
    values here. 6,603,710 parameters."""

    def __init__(self, classes: int = NUM_CLASSES, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.features = nn.Sequential(
                nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            )
            self.classifier = nn.Sequential(
                nn.Flatten(), nn.Linear(7 * 7 * 64, 2048), nn.ReLU(), nn.Linear(2048, classes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE) / 255
        return self.classifier(self.features(x))


class LeafCNNGroupNorm(LeafCNN):
    """The LEAF CNN with group normalisation (8 groups) after each convolution: normalised per
    sample, so unlike batch norm it keeps no statistics that federated averaging would mix
    (Hsieh et al., "The Non-IID Data Quagmire", ICML 2020). 6,603,902 parameters."""

    def __init__(self, classes: int = NUM_CLASSES, init_seed: int = 0):
        super().__init__(classes, init_seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.features = nn.Sequential(
                nn.Conv2d(1, 32, 5, padding=2), nn.GroupNorm(8, 32), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 5, padding=2), nn.GroupNorm(8, 64), nn.ReLU(), nn.MaxPool2d(2),
            )


MODELS = {"leaf_cnn": LeafCNN, "leaf_cnn_gn": LeafCNNGroupNorm}


def build_model(name: str = "leaf_cnn") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
