"""Fed-IXI inference step (fixed code): volumes fed a few at a time, brain probability kept.

The model maps (b, 1, 48, 60, 48) volumes to class probabilities (b, 2, 48, 60, 48) (softmax,
FLamby's U-Net) or to a brain probability (b, 1, 48, 60, 48) (sigmoid); the prediction of a
volume is its brain channel, (48, 60, 48) float32, what metric.py scores.
"""
from __future__ import annotations

import numpy as np
import torch

from afr_box.tasks.shared.prepared import SiteData

BATCH = 2  # a 3-D U-Net's activations are large: a couple of volumes at a time


def predict(model, site: SiteData) -> np.ndarray:
    out = []
    for batch in site.batches(BATCH):
        probs = model(torch.from_numpy(batch["x"]))
        if probs.ndim != 5 or probs.shape[1] not in (1, 2):
            raise ValueError(f"the model must return (b, 2, D, H, W) softmax or (b, 1, D, H, W) sigmoid "
                             f"outputs, got shape {tuple(probs.shape)}")
        out.append(probs[:, -1].float())
    return torch.cat(out).numpy() if out else np.zeros((0,) + site.row_shape("x")[1:], dtype=np.float32)
