"""Registered model variants for Fed-IXI (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
"""
import torch
from torch import nn
from torch.nn import functional as F


def conv_block(cin: int, cout: int, batch_norm: bool) -> nn.Sequential:
    """3x3x3 convolution (no bias before a batch norm), batch norm, PReLU."""
    layers = [nn.Conv3d(cin, cout, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm3d(cout))
    layers.append(nn.PReLU())
    return nn.Sequential(*layers)


class UNet3D(nn.Module):
    """FLamby's Fed-IXI baseline (the `unet` 0.7.7 3-D U-Net as FLamby configures it: 3 encoding
    levels, 8 channels first, batch norm, max pooling, trilinear upsampling, PReLU, softmax over
    2 classes): 1 -> 8 -> 16 | 16 -> 32 | bottom 32 -> 64 | up 96 -> 32 -> 32 | up 48 -> 16 -> 16
    | 1x1 -> 2. The first convolution has no batch norm (as FLamby's first encoding block).
    246,156 learnt parameters (+ 512 batch-norm running statistics): FLamby's `Baseline()` with
    its weights copied in parameter order gives identical outputs."""

    def __init__(self, first: int = 8, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            c1, c2, c3 = 2 * first, 4 * first, 8 * first
            self.enc1 = nn.Sequential(conv_block(1, first, False), conv_block(first, c1, True))
            self.enc2 = nn.Sequential(conv_block(c1, c1, True), conv_block(c1, c2, True))
            self.bottom = nn.Sequential(conv_block(c2, c2, True), conv_block(c2, c3, True))
            self.dec2 = nn.Sequential(conv_block(c2 + c3, c2, True), conv_block(c2, c2, True))
            self.dec1 = nn.Sequential(conv_block(c1 + c2, c1, True), conv_block(c1, c1, True))
            self.classifier = nn.Conv3d(c1, 2, 1)

    @staticmethod
    def up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.enc1(x)
        s2 = self.enc2(F.max_pool3d(s1, 2))
        b = self.bottom(F.max_pool3d(s2, 2))
        d2 = self.dec2(torch.cat([s2, self.up(b)], dim=1))
        d1 = self.dec1(torch.cat([s1, self.up(d2)], dim=1))
        return torch.softmax(self.classifier(d1), dim=1)


class WideUNet3D(UNet3D):
    """The same 3-D U-Net with 12 channels first instead of 8 (12 -> 24 | 48 | 96 ...):
    about 2.25 times the parameters (553,260), under the profile's cap."""

    def __init__(self, init_seed: int = 0):
        super().__init__(first=12, init_seed=init_seed)


MODELS = {"unet3d": UNet3D, "unet3d_wide": WideUNet3D}


def build_model(name: str = "unet3d") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
