"""Fed-ISIC2019 inference step (fixed code): stored 200 x 200 centre crops (FLamby's test
transform), normalised as FLamby's `Normalize()`, fed 32 images at a time; logits (n, 8) out."""
from __future__ import annotations

import numpy as np
import torch

from afr_box.tasks.isic.images import normalise

BATCH = 32


def predict(model, arrays: dict[str, np.ndarray]) -> np.ndarray:
    x = arrays["x"]
    out = [model(normalise(x[i:i + BATCH])).float() for i in range(0, len(x), BATCH)]
    return torch.cat(out).numpy() if out else np.zeros((0, 8), dtype=np.float32)
