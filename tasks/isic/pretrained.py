"""EfficientNet-b0 pretrained weights for Fed-ISIC2019 (fixed code, host and container).

FLamby's baseline starts from ImageNet weights (`EfficientNet.from_pretrained("efficientnet-b0")`
of `efficientnet_pytorch`) and replaces the head by `Linear(1280, 8)`. No model hub is reachable
from afr-box's containers, so the user gives a weights file once:

    afr-box data prepare isic --source DIR --option weights=FILE

`convert(FILE)` (host) checks it and writes `train/assets/efficientnet_b0.npz`, which the
baseline model (models.py) loads when the training container builds it. Accepted files:

* a torch state_dict (`.pth`/`.pt`, read with `torch.load(weights_only=True)`; a dict holding it
  under `state_dict` or `model` is unwrapped; a `module.` prefix is dropped), or an `.npz` of arrays;
* key names of `efficientnet_pytorch` (`_conv_stem.weight`, `_bn0.*`,
  `_blocks.<i>._expand_conv.weight`, `_blocks.<i>._bn0.*`, `_depthwise_conv.weight`, `_bn1.*`,
  `_se_reduce.{weight,bias}`, `_se_expand.{weight,bias}`, `_project_conv.weight`, `_bn2.*`,
  `_conv_head.weight`, `_bn1.*`, `_fc.{weight,bias}`), optionally prefixed `base_model.` (a
  FLamby `Baseline` state_dict): e.g. `torch.save(EfficientNet.from_pretrained(
  "efficientnet-b0").state_dict(), "b0.pth")`;
* or torchvision's `efficientnet_b0` names (`features.*`, `classifier.1.*`, e.g.
  `torch.save(torchvision.models.efficientnet_b0(weights="IMAGENET1K_V1").state_dict(), "b0.pth")`):
  the tensors come in the same order with the same shapes and are renamed by position. Note
  torchvision's b0 was trained with symmetric padding and batch-norm eps 1e-5, this model uses
  efficientnet_pytorch's TF-style "same" padding and eps 1e-3: efficientnet_pytorch weights are
  the faithful start.

A head whose shape is not (8, 1280) (ImageNet's 1000 classes) is dropped: the new head keeps its
seeded initialisation, as in FLamby. `num_batches_tracked` counters are dropped.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np

from afr_box.tasks.shared.errors import AfrError

ASSET = "efficientnet_b0.npz"
PREFIX = "base_model."
NUM_CLASSES = 8
# EfficientNet-b0 stages: (expand ratio, kernel, stride, input channels, output channels, repeats).
B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
STEM, HEAD = 32, 1280
SE_RATIO = 0.25
PAD_IMAGE_SIZE = 224  # efficientnet_pytorch fixes its "same" paddings for b0's 224 x 224 input


def blocks() -> list[tuple[int, int, int, int, int]]:
    """(expand, kernel, stride, in, out) of the 16 MBConv blocks in order."""
    out = []
    for expand, kernel, stride, cin, cout, repeats in B0_STAGES:
        out.append((expand, kernel, stride, cin, cout))
        out.extend((expand, kernel, 1, cout, cout) for _ in range(repeats - 1))
    return out


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "same" padding (before, after) for one axis of `size` pixels."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _bn(name: str, channels: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{name}.{k}", (channels,)) for k in ("weight", "bias", "running_mean", "running_var")]


def b0_shapes(num_classes: int = NUM_CLASSES) -> "OrderedDict[str, tuple[int, ...]]":
    """efficientnet_pytorch's state_dict names and shapes (no counters), in module order."""
    items = [("_conv_stem.weight", (STEM, 3, 3, 3))] + _bn("_bn0", STEM)
    for i, (expand, kernel, _stride, cin, cout) in enumerate(blocks()):
        hidden, squeezed = cin * expand, max(1, int(cin * SE_RATIO))
        b = f"_blocks.{i}."
        if expand != 1:
            items += [(b + "_expand_conv.weight", (hidden, cin, 1, 1))] + _bn(b + "_bn0", hidden)
        items += [(b + "_depthwise_conv.weight", (hidden, 1, kernel, kernel))] + _bn(b + "_bn1", hidden)
        items += [(b + "_se_reduce.weight", (squeezed, hidden, 1, 1)), (b + "_se_reduce.bias", (squeezed,)),
                  (b + "_se_expand.weight", (hidden, squeezed, 1, 1)), (b + "_se_expand.bias", (hidden,))]
        items += [(b + "_project_conv.weight", (cout, hidden, 1, 1))] + _bn(b + "_bn2", cout)
    items += [("_conv_head.weight", (HEAD, 320, 1, 1))] + _bn("_bn1", HEAD)
    items += [("_fc.weight", (num_classes, HEAD)), ("_fc.bias", (num_classes,))]
    return OrderedDict(items)


class WeightsError(AfrError, ValueError):
    """A pretrained-weights file that cannot be used; the message says what to fix."""


def _read(path: Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise WeightsError(f"{path} is not a plain .npz array archive: {exc}") from None
    if path.suffix not in (".pth", ".pt"):
        raise WeightsError(f"{path}: expected a .pth/.pt torch state_dict or an .npz of arrays")
    try:
        import torch
    except ImportError:
        raise WeightsError(f"reading {path.name} needs torch on this machine; or save the state_dict "
                           f"as .npz: np.savez(f, **{{k: v.numpy() for k, v in sd.items()}})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or damaged files
        raise WeightsError(f"{path} is not a torch state_dict loadable with weights_only=True: {exc}") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, expected a state_dict (name -> tensor)")
    return {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "detach")}


def _rename(arrays: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    arrays = {k: v for k, v in arrays.items() if not k.endswith("num_batches_tracked")}
    for prefix in ("module.", PREFIX):
        if arrays and all(k.startswith(prefix) for k in arrays):
            arrays = {k[len(prefix):]: v for k, v in arrays.items()}
    if any(k.startswith("features.") for k in arrays):     # torchvision: same tensors, same order
        expected = b0_shapes(num_classes=len(arrays.get("classifier.1.bias", np.zeros(NUM_CLASSES))))
        if len(arrays) != len(expected):
            raise WeightsError(f"{source}: {len(arrays)} tensors, torchvision's efficientnet_b0 has {len(expected)}")
        return dict(zip(expected, arrays.values()))
    return arrays


def convert(path: Path) -> dict[str, np.ndarray]:
    """The weights of `path` under this model's names (`base_model.` + efficientnet_pytorch's),
    float32, checked against b0's shapes; a head of another class count is dropped."""
    arrays = _rename(_read(path), Path(path).name)
    expected = b0_shapes()
    if arrays.get("_fc.weight") is not None and tuple(arrays["_fc.weight"].shape) != expected["_fc.weight"]:
        arrays = {k: v for k, v in arrays.items() if not k.startswith("_fc.")}
    unknown = sorted(set(arrays) - set(expected))
    if unknown:
        raise WeightsError(f"{Path(path).name}: keys not in EfficientNet-b0: {unknown[:5]} (expected "
                           f"efficientnet_pytorch or torchvision names; see tasks/isic/pretrained.py)")
    missing = sorted(k for k in expected if k not in arrays and not k.startswith("_fc."))
    if missing:
        raise WeightsError(f"{Path(path).name}: missing {len(missing)} EfficientNet-b0 tensors, e.g. {missing[:3]}")
    for k, v in arrays.items():
        if tuple(v.shape) != expected[k]:
            raise WeightsError(f"{Path(path).name}: {k} has shape {tuple(v.shape)}, expected {expected[k]}")
        if v.dtype.kind != "f" or not np.isfinite(v).all():
            raise WeightsError(f"{Path(path).name}: {k} must hold finite floats")
    return {PREFIX + k: v.astype(np.float32) for k, v in arrays.items()}


def load_into(model, path: Path) -> list[str]:
    """Copy the asset's tensors into `model` (container side); returns the keys left at their
    initialisation (the head when the file has none)."""
    import torch

    with np.load(path, allow_pickle=False) as z:
        state = {k: torch.from_numpy(z[k]) for k in z.files}
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise WeightsError(f"{path.name}: unexpected keys {result.unexpected_keys[:5]}")
    return [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
