"""Registered model variants for Fed-ISIC2019 (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from afr_box.tasks.shared import site_env
from afr_box.tasks.isic import pretrained

BN_EPS, BN_MOMENTUM = 1e-3, 0.01   # efficientnet_pytorch's b0 (TF momentum 0.99)
DROP_CONNECT, DROPOUT = 0.2, 0.2


class SameConv2d(nn.Conv2d):
    """Convolution with efficientnet_pytorch's static TF "same" padding (fixed for 224 x 224
    input, as `EfficientNet.from_pretrained` builds it); no extra parameters."""

    def __init__(self, cin, cout, kernel, stride=1, groups=1, bias=False, image_size=pretrained.PAD_IMAGE_SIZE):
        super().__init__(cin, cout, kernel, stride=stride, groups=groups, bias=bias)
        before, after = pretrained.same_padding(image_size, kernel, stride)
        self.pad = (before, after, before, after)

    def forward(self, x):
        return super().forward(F.pad(x, self.pad) if any(self.pad) else x)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted bottleneck: 1x1 expansion, depthwise conv, squeeze-excitation, 1x1 projection;
    identity skip with drop-connect when shapes allow. Names as efficientnet_pytorch's."""

    def __init__(self, expand, kernel, stride, cin, cout, image_size, drop_connect):
        super().__init__()
        hidden, squeezed = cin * expand, max(1, int(cin * pretrained.SE_RATIO))
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, hidden, 1)
            self._bn0 = batch_norm(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, image_size=image_size)
        self._bn1 = batch_norm(hidden)
        self._se_reduce = nn.Conv2d(hidden, squeezed, 1)
        self._se_expand = nn.Conv2d(squeezed, hidden, 1)
        self._project_conv = SameConv2d(hidden, cout, 1)
        self._bn2 = batch_norm(cout)
        self.skip = stride == 1 and cin == cout
        self.drop_connect = drop_connect

    def forward(self, inputs):
        x = F.silu(self._bn0(self._expand_conv(inputs))) if self.expand else inputs
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        scale = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
        x = self._bn2(self._project_conv(torch.sigmoid(scale) * x))
        if not self.skip:
            return x
        if self.training and self.drop_connect > 0:   # stochastic depth, per sample
            keep = 1.0 - self.drop_connect
            mask = torch.floor(keep + torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device))
            x = x / keep * mask
        return x + inputs


class EfficientNetB0(nn.Module):
    """The EfficientNet-b0 backbone with efficientnet_pytorch's parameter names."""

    def __init__(self, num_classes: int):
        super().__init__()
        size = pretrained.PAD_IMAGE_SIZE
        self._conv_stem = SameConv2d(3, pretrained.STEM, 3, 2, image_size=size)
        self._bn0 = batch_norm(pretrained.STEM)
        size = math.ceil(size / 2)
        specs = pretrained.blocks()
        self._blocks = nn.ModuleList()
        for i, (expand, kernel, stride, cin, cout) in enumerate(specs):
            self._blocks.append(MBConv(expand, kernel, stride, cin, cout, size, DROP_CONNECT * i / len(specs)))
            size = math.ceil(size / stride)
        self._conv_head = SameConv2d(specs[-1][4], pretrained.HEAD, 1)
        self._bn1 = batch_norm(pretrained.HEAD)
        self._dropout = nn.Dropout(DROPOUT)
        self._fc = nn.Linear(pretrained.HEAD, num_classes)

    def forward(self, x):
        x = F.silu(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.silu(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))


class Baseline(nn.Module):
    """FLamby's Fed-ISIC2019 baseline: EfficientNet-b0 with a new Linear(1280, 8) head, logits out
    (4,017,796 learnt parameters + 42,016 batch-norm statistics; with the same weights its
    outputs equal efficientnet_pytorch's `EfficientNet` b0 with that head). Starts from the pretrained
    weights in the training data's assets when the user gave them (see pretrained.py), as FLamby
    starts from ImageNet weights; from the seeded initialisation otherwise."""

    def __init__(self, num_classes: int = pretrained.NUM_CLASSES, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.base_model = EfficientNetB0(num_classes)
        weights = site_env.data_dir() / "assets" / pretrained.ASSET
        if weights.is_file():
            pretrained.load_into(self, weights)

    def forward(self, image):
        return self.base_model(image)


class MLPHead(Baseline):
    """The baseline backbone (pretrained when given) with a two-layer head in place of the linear
    one: Linear(1280, 256) + ReLU + Linear(256, 8), seeded (4,337,540 learnt parameters)."""

    def __init__(self, num_classes: int = pretrained.NUM_CLASSES, init_seed: int = 0):
        super().__init__(num_classes, init_seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed + 1)
            self.base_model._fc = nn.Sequential(nn.Linear(pretrained.HEAD, 256), nn.ReLU(),
                                                nn.Linear(256, num_classes))


MODELS = {"efficientnet_b0": Baseline, "efficientnet_b0_mlp_head": MLPHead}


def build_model(name: str = "efficientnet_b0") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
