"""The registered model variants each task's search may pick (knobs.yaml: model): every one builds
with a seeded initialisation, stays under its profile's max_model_params, has the size its
docstring states, and answers the shapes its predict step and metric read."""
from __future__ import annotations

import importlib.util

import pytest

from afr_box.profiles.schema import load_profile
from afr_box.tasks.shared.layout import repo_file

torch = pytest.importorskip("torch")

# task -> {variant: learnt parameters}; the first of each is the benchmark's baseline.
VARIANTS = {
    "heart": {"logreg": 14, "quadratic": 105, "mlp": 241},
    "tcga": {"cox_linear": 40, "cox_mlp": 1_313},
    "synthetic": {"logreg": 305, "mlp": 2_117},
    "femnist": {"leaf_cnn": 6_603_710, "leaf_cnn_gn": 6_603_902},
    "celeba": {"leaf_cnn": 31_202, "wide_cnn_gn": 67_538},
    "camelyon": {"deepmil": 320_258, "attention_mil": 303_746},
    "ixi": {"unet3d": 246_156, "unet3d_wide": 553_260},
    "isic": {"efficientnet_b0": 4_017_796, "efficientnet_b0_mlp_head": 4_337_540},
    "shakespeare": {"stacked_lstm": 819_920, "stacked_gru": 620_240},
    "sent140": {"stacked_lstm": 3_255_086, "stacked_gru": 3_194_686},
    "reddit": {"stacked_lstm": 6_182_672, "stacked_gru": 5_919_504},
}
# Forward shapes on a tiny batch: (input, expected output shape).
SMALL_INPUTS = {
    "heart": (lambda: torch.rand(3, 13), (3,)),
    "tcga": (lambda: torch.rand(3, 39), (3,)),
    "synthetic": (lambda: torch.rand(3, 60), (3, 5)),
    "femnist": (lambda: torch.randint(0, 256, (3, 784), dtype=torch.uint8), (3, 62)),
    "celeba": (lambda: torch.randint(0, 256, (3, 84, 84, 3), dtype=torch.uint8), (3, 2)),
    "camelyon": (lambda: torch.rand(2, 7, 2048), (2,)),
    "shakespeare": (lambda: torch.randint(0, 80, (3, 80)), (3, 80)),
    "reddit": (lambda: torch.randint(0, 10_000, (3, 10)), (3, 10, 10_000)),
}


def models_of(task: str):
    spec = importlib.util.spec_from_file_location(f"{task}_models", repo_file(f"{task}/models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def learnt(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("task", sorted(VARIANTS))
def test_every_variant_is_registered_sized_and_under_the_cap(task):
    models = models_of(task)
    cap = load_profile(task).budget.max_model_params
    assert len(models.MODELS) >= 2, f"{task}: the search needs at least one variant beside the baseline"
    assert set(VARIANTS[task]) <= set(models.MODELS)
    for name in models.MODELS:
        model = models.build_model(name)
        assert learnt(model) <= cap, (task, name, learnt(model), cap)
        if name in VARIANTS[task]:
            assert learnt(model) == VARIANTS[task][name], (task, name)


@pytest.mark.parametrize("task", sorted(SMALL_INPUTS))
def test_variants_answer_the_baselines_shapes_and_initialise_alike(task):
    models = models_of(task)
    make, shape = SMALL_INPUTS[task]
    x = make()
    for name in models.MODELS:
        a, b = models.build_model(name), models.build_model(name)
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert ka == kb and torch.equal(va, vb), (task, name, ka)  # seeded: server and clients agree
        a.eval()
        with torch.no_grad():
            assert tuple(a(x).shape) == shape, (task, name)


def test_unknown_variant_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"registered: \['logreg', 'mlp', 'quadratic'\]"):
        models_of("heart").build_model("transformer")
