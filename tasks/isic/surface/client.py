"""Fed-ISIC2019 client training script (surface: NVFlare Client API).

Each round: receive the global model, train `local_steps` mini-batches of FLamby's weighted
focal loss (gamma 2, per-class weights below) on this site's images, send back the weight DIFF
with the step count as aggregation weight.

Augmentation (FLamby's training transform, in torch): kept RandomCrop(200) from the stored
224 x 224 centre square, flips (horizontal, vertical or both, p 0.5), RandomBrightnessContrast
(0.15, 0.1, p 0.5), CoarseDropout (1-8 holes of 16 x 16, p 0.5) and Normalize. Dropped (no
image library in the container; a candidate may add them): RandomScale(0.07), Rotate(50) and
Affine(shear=0.1). The global torch RNG (augmentation, dropout, drop-connect) is seeded per
site and round, so runs repeat.
"""
import numpy as np
import torch
from torch.nn import functional as F

import nvflare.client as flare
from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.tasks.isic.images import CROP, normalise
from afr_box.tasks.shared.site_env import budget, knobs, open_site
from models import build_model
from shared.local_training import ScaffoldClient, local_steps, mean_loss, round_generator

# FLamby's BaselineLoss alpha (inverse class frequencies of the pooled training set).
CLASS_WEIGHTS = torch.tensor([5.5813, 2.0472, 7.0204, 26.1194, 9.5369, 101.0707, 92.5224, 38.3443])
GAMMA = 2.0
EVAL_IMAGES = 64  # the evaluate branch reports on a few training images (CPU-friendly)


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logpt = F.log_softmax(logits, dim=1).gather(1, target.view(-1, 1)).view(-1)
    return (-(1 - logpt.exp()) ** GAMMA * logpt * CLASS_WEIGHTS[target]).mean()


def augment(images: torch.Tensor) -> torch.Tensor:
    """uint8 (b, 3, 224, 224) -> normalised float (b, 3, 200, 200), FLamby's kept augmentations."""
    b, _, h, w = images.shape
    out = []
    for img in images:
        top, left = (int(torch.randint(0, s - CROP + 1, ())) for s in (h, w))
        img = img[:, top:top + CROP, left:left + CROP].float() / 255.0
        if torch.rand(()) < 0.5:   # albumentations Flip: horizontal, vertical or both
            img = img.flip(dims=[(2,), (1,), (1, 2)][int(torch.randint(0, 3, ()))])
        if torch.rand(()) < 0.5:
            alpha, beta = 1 + (torch.rand(()) * 2 - 1) * 0.1, (torch.rand(()) * 2 - 1) * 0.15
            img = (img * alpha + beta).clamp(0, 1)
        if torch.rand(()) < 0.5:
            for _ in range(int(torch.randint(1, 9, ()))):
                y, x = int(torch.randint(0, CROP - 16 + 1, ())), int(torch.randint(0, CROP - 16 + 1, ()))
                img[:, y:y + 16, x:x + 16] = 0
        out.append(img)
    return normalise(torch.stack(out) * 255.0)


def balanced_accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        offset = (x.shape[-1] - CROP) // 2
        pred = model(normalise(x[:, :, offset:offset + CROP, offset:offset + CROP])).argmax(dim=1)
    return float(np.mean([float((pred[y == c] == c).float().mean()) for c in torch.unique(y)]))


def main():
    torch.set_num_threads(1)
    fixed = budget()
    cfg = knobs()
    flare.init()
    site = flare.get_site_name()
    data = open_site(site)  # read lazily: only the images of each batch are loaded
    first = data.batch(np.arange(min(EVAL_IMAGES, len(data))))
    x_eval, y_eval = torch.from_numpy(first["x"]), torch.from_numpy(first["y"]).long()
    model = build_model(cfg["model"])
    last = {}

    def loss_of_batch(idx):
        batch = data.batch(idx)
        loss = focal_loss(model(augment(torch.from_numpy(batch["x"]))), torch.from_numpy(batch["y"]).long())
        last["loss"] = loss.item()
        return loss

    scaffold = ScaffoldClient(cfg)  # SCAFFOLD's control variates; inert unless aggregator: scaffold
    while flare.is_running():
        global_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"balanced_accuracy": balanced_accuracy(model, x_eval, y_eval)}))
            continue
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = round_generator(fixed["seed"], site, global_model.current_round)
        torch.manual_seed(gen.initial_seed() + 1)
        losses = []
        steps = local_steps(model, loss_of_batch, len(data), cfg, fixed["batch_size"], gen,
                            scaffold.correction(model, global_model), losses)
        diff = {k: v - before[k] for k, v in model.state_dict().items()}
        flare.send(FLModel(
            params=diff,
            params_type=ParamsType.DIFF,
            metrics={"train_loss_last_batch": last["loss"], "train_loss": mean_loss(losses)},
            meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps, **scaffold.report(model, before, steps)},
        ))


if __name__ == "__main__":
    main()
