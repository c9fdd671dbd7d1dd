"""LEAF Reddit inference step (fixed code): the model's argmax token ids, not its logits.

The candidate's model maps x (n, 10) token ids to next-token scores (n, 10, vocabulary);
10,000 scores per token would be far too large to hand to the scorer, so only argmax ids
(n, 10) int64 leave the inference container.
"""
from __future__ import annotations

import numpy as np

from afr_box.tasks.shared.prepared import SiteData

BATCH = 256


def predict(model, site: SiteData) -> np.ndarray:
    import torch

    parts = []
    for batch in site.batches(BATCH):
        x = torch.from_numpy(batch["x"]).long()
        ids = model(x).argmax(dim=-1)
        if ids.shape != x.shape:
            raise ValueError(f"the model gave predictions of shape {tuple(ids.shape)} for inputs {tuple(x.shape)}; "
                             f"expected one next-token score vector per input token")
        parts.append(ids)
    ids = torch.cat(parts) if parts else torch.zeros((0,) + site.row_shape("x"), dtype=torch.long)
    return ids.numpy().astype(np.int64)
