"""Fed-Camelyon16 inference step (fixed code): one bag at a time, as FLamby evaluates a slide.

The test inputs of a site are the ragged pair `x` (all tiles) + `x_offsets`; slide i is read
alone (`SiteData.sample`). The model gets it as a batch of one bag, (1, K, feature_dim), and
returns one logit; the predictions are those logits, shape (n_slides,), in slide order.
"""
from __future__ import annotations

import numpy as np

from afr_box.tasks.shared.prepared import SiteData


def predict(model, site: SiteData) -> np.ndarray:
    import torch

    if not site.is_ragged("x"):
        raise ValueError("camelyon test inputs must be the ragged pair x + x_offsets")
    scores = []
    with torch.no_grad():
        for i in range(len(site)):
            bag = torch.from_numpy(site.sample(i)["x"])
            scores.append(model(bag.unsqueeze(0)).reshape(-1)[0].float())
    return torch.stack(scores).numpy() if scores else np.zeros(0, np.float32)
