"""Registered model variants for Fed-Camelyon16 (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
Inputs are bags of tile features, shape (B, K, 2048); rows of zeros are padding.
"""
import math

import torch
from torch import nn

FEATURE_DIM = 2048
PAD_TO = 10000      # FLamby's collate_fn pads every bag with zero tiles up to 10000


class GatedAttentionMIL(nn.Module):
    """FLamby's baseline: DeepMIL with gated attention (Ilse et al. 2018, eq. 9) on ResNet50 tile
    features, then FLamby's MLP head; one logit per bag. 320,258 parameters:
    Linear(2048, 128); attention V = Linear(128, 128) + tanh, U = Linear(128, 128) + sigmoid,
    w = Linear(128, 1); softmax over the tiles; classifier 128 -> 128 -> 64 -> 1 with ReLUs.

    FLamby pads each bag with zero tiles up to 10000 and the softmax runs over the padding
    too (a zero tile still gets a finite attention weight through the biases). This model gives
    the same output without building the padded tensor: a bag of K rows stands for itself plus
    `pad_to - K` zero tiles, whose shared logit enters the softmax with weight (pad_to - K).
    """

    def __init__(self, feature_dim: int = FEATURE_DIM, pad_to: int = PAD_TO, init_seed: int = 0):
        super().__init__()
        self.pad_to = pad_to
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.embed = nn.Linear(feature_dim, 128)
            self.attention_v = nn.Sequential(nn.Linear(128, 128), nn.Tanh())
            self.attention_u = nn.Sequential(nn.Linear(128, 128), nn.Sigmoid())
            self.attention_w = nn.Linear(128, 1)
            self.classifier = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                            nn.Linear(64, 1))

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.attention_w(self.attention_v(h) * self.attention_u(h)).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)                                   # B x K x 128
        logits = self._logits(h)                            # B x K
        missing = self.pad_to - x.shape[1]
        if missing > 0:                                     # the zero tiles FLamby's padding adds
            h_pad = self.embed.bias.expand(x.shape[0], 1, -1)
            pad_logit = self._logits(h_pad) + math.log(missing)
            h = torch.cat([h, h_pad], dim=1)
            logits = torch.cat([logits, pad_logit], dim=1)
        attention = torch.softmax(logits, dim=1)            # over the tiles of each bag
        pooled = torch.bmm(attention.unsqueeze(1), h).squeeze(1)
        return self.classifier(pooled).squeeze(-1)


class AttentionMIL(GatedAttentionMIL):
    """DeepMIL with plain (ungated) attention (Ilse et al. 2018, eq. 8): w^T tanh(V h), the
    sigmoid gate U dropped; padding handled as in the gated model. 303,746 parameters."""

    def __init__(self, feature_dim: int = FEATURE_DIM, pad_to: int = PAD_TO, init_seed: int = 0):
        super().__init__(feature_dim, pad_to, init_seed)
        del self.attention_u

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.attention_w(self.attention_v(h)).squeeze(-1)


MODELS = {"deepmil": GatedAttentionMIL, "attention_mil": AttentionMIL}


def build_model(name: str = "deepmil") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
