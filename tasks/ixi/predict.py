"""Fed-IXI inference step (fixed code): volumes fed a few at a time, brain probability kept.

The model maps (b, 1, 48, 60, 48) volumes to class probabilities (b, 2, 48, 60, 48) (softmax,
FLamby's U-Net) or to a brain probability (b, 1, 48, 60, 48) (sigmoid); the prediction of a
volume is its brain channel, (48, 60, 48) float32, what metric.py scores.
"""
from __future__ import annotations

import numpy as np
import torch

BATCH = 2  # a 3-D U-Net's activations are large: a couple of volumes at a time


def predict(model, arrays: dict[str, np.ndarray]) -> np.ndarray:
    x = torch.from_numpy(arrays["x"])
    out = []
    for i in range(0, len(x), BATCH):
        probs = model(x[i:i + BATCH])
        if probs.ndim != 5 or probs.shape[1] not in (1, 2):
            raise ValueError(f"the model must return (b, 2, D, H, W) softmax or (b, 1, D, H, W) sigmoid "
                             f"outputs, got shape {tuple(probs.shape)}")
        out.append(probs[:, -1].float())
    return torch.cat(out).numpy() if out else np.zeros((0,) + tuple(x.shape[2:]), dtype=np.float32)
