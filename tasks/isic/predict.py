"""Fed-ISIC2019 inference step (fixed code): stored 200 x 200 centre crops (FLamby's test
transform), normalised as FLamby's `Normalize()`, fed 32 images at a time; logits (n, 8) out."""
from __future__ import annotations

import numpy as np
import torch

from afr_box.tasks.isic.images import normalise
from afr_box.tasks.shared.prepared import SiteData

BATCH = 32


def predict(model, site: SiteData) -> np.ndarray:
    out = [model(normalise(torch.from_numpy(b["x"]))).float() for b in site.batches(BATCH)]
    return torch.cat(out).numpy() if out else np.zeros((0, 8), dtype=np.float32)
