"""Fed-ISIC2019 image tensors (fixed code, used by predict.py and by the client).

Images are stored as uint8 (n, 3, H, W) RGB (see bridge.py); the model sees FLamby's
`albumentations.Normalize()`: (v / 255 - ImageNet mean) / ImageNet std, float32.
"""
from __future__ import annotations

import numpy as np
import torch

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CROP = 200  # FLamby's sz: RandomCrop(200) in training, CenterCrop(200) at test


def normalise(images) -> torch.Tensor:
    """uint8 (n, 3, H, W) array or tensor -> normalised float32 tensor."""
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images).float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std
