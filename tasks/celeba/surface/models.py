"""Registered model variants for LEAF CelebA (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
"""
import torch
from torch import nn

CHANNELS, CLASSES = 32, 2


class LeafCelebaCNN(nn.Module):
    """LEAF's CelebA baseline (models/celeba/cnn.py), in torch: 4 blocks of conv3x3 32 'same',
    batch norm, maxpool 2 ('same': 84 -> 42 -> 21 -> 11 -> 6), ReLU; then dense 1152 -> 2 logits.

    As in LEAF: inputs are the 84x84 RGB pixel values 0-255 as floats (no scaling), and batch
    norm always normalises with the statistics of the batch at hand (LEAF builds it with
    training=True), so it keeps no running statistics. 31,202 parameters."""

    def __init__(self, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            blocks = []
            for i in range(4):
                blocks += [nn.Conv2d(3 if i == 0 else CHANNELS, CHANNELS, 3, padding=1),
                           nn.BatchNorm2d(CHANNELS, track_running_stats=False),
                           nn.MaxPool2d(2, ceil_mode=True), nn.ReLU()]
            self.features = nn.Sequential(*blocks)
            self.classifier = nn.Linear(6 * 6 * CHANNELS, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: uint8 images (n, 84, 84, 3) as prepared -> float NCHW
        x = x.float().permute(0, 3, 1, 2)
        return self.classifier(self.features(x).flatten(1))


class WideGroupNormCNN(nn.Module):
    """A wider, normalised variant: the same 4 blocks with 48 channels and group normalisation
    (8 groups, per sample: nothing batch-dependent to average across clients) in place of batch
    norm; dense 1728 -> 2 logits. 67,538 parameters."""

    def __init__(self, channels: int = 48, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            blocks = []
            for i in range(4):
                blocks += [nn.Conv2d(3 if i == 0 else channels, channels, 3, padding=1), nn.GroupNorm(8, channels),
                           nn.MaxPool2d(2, ceil_mode=True), nn.ReLU()]
            self.features = nn.Sequential(*blocks)
            self.classifier = nn.Linear(6 * 6 * channels, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # uint8 images (n, 84, 84, 3) -> float NCHW scaled to [0, 1] (group norm makes the scale moot)
        x = x.float().permute(0, 3, 1, 2) / 255
        return self.classifier(self.features(x).flatten(1))


MODELS = {"leaf_cnn": LeafCelebaCNN, "wide_cnn_gn": WideGroupNormCNN}


def build_model(name: str = "leaf_cnn") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
