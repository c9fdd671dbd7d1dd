"""LEAF Reddit inference step (fixed code): the model's argmax token ids, not its logits.

The candidate's model maps x (n, 10) token ids to next-token scores (n, 10, vocabulary);
10,000 scores per token would be far too large to hand to the scorer, so only argmax ids
(n, 10) int64 leave the inference container.
"""
from __future__ import annotations

import numpy as np

BATCH = 256


def predict(model, arrays: dict) -> np.ndarray:
    import torch

    x = torch.from_numpy(np.asarray(arrays["x"])).long()
    parts = [model(x[i:i + BATCH]).argmax(dim=-1) for i in range(0, len(x), BATCH)]
    ids = torch.cat(parts) if parts else torch.zeros((0, x.shape[1]), dtype=torch.long)
    if ids.shape != x.shape:
        raise ValueError(f"the model gave predictions of shape {tuple(ids.shape)} for inputs {tuple(x.shape)}; "
                         f"expected one next-token score vector per input token")
    return ids.numpy().astype(np.int64)
