"""Fed-IXI client training script (surface: NVFlare Client API).

Each round: receive the global model, train `local_steps` mini-batches of FLamby's Dice loss
(1 - 2TP / (2TP + FP + FN), over both classes of the softmax output) on this site's volumes,
send back the weight DIFF with the step count as aggregation weight.
Knobs come from knobs.yaml; the budget (batch size, seed, step bounds) from the run file.
"""
import numpy as np
import torch

import nvflare.client as flare
from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.tasks.shared.site_env import budget, knobs, open_site
from models import build_model
from shared.local_training import ScaffoldClient, local_steps, mean_loss, round_generator

EVAL_VOLUMES = 4  # a 3-D U-Net pass is slow on CPU: the evaluate branch reports on a few volumes


def one_hot(mask: torch.Tensor) -> torch.Tensor:
    """(b, D, H, W) 0/1 brain mask -> (b, 2, D, H, W) background/brain target."""
    brain = mask.float().unsqueeze(1)
    return torch.cat([1 - brain, brain], dim=1)


def dice_per_class(probs: torch.Tensor, target: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """FLamby's get_dice_score: 2TP / (2TP + FP + FN + eps) per volume and class."""
    dims = (2, 3, 4)
    tp = (probs * target).sum(dim=dims)
    fp = (probs * (1 - target)).sum(dim=dims)
    fn = ((1 - probs) * target).sum(dim=dims)
    return 2 * tp / (2 * tp + fp + fn + eps)


def mean_dice(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return float(dice_per_class(model(x), one_hot(y)).mean())


def main():
    torch.set_num_threads(1)
    fixed = budget()
    cfg = knobs()
    flare.init()
    site = flare.get_site_name()
    data = open_site(site)  # read lazily: only the volumes of each batch are loaded
    first = data.batch(np.arange(min(EVAL_VOLUMES, len(data))))
    x_eval, y_eval = torch.from_numpy(first["x"]), torch.from_numpy(first["y"])
    model = build_model(cfg["model"])
    last = {}

    def loss_of_batch(idx):
        batch = data.batch(idx)
        loss = torch.mean(1 - dice_per_class(model(torch.from_numpy(batch["x"])), one_hot(torch.from_numpy(batch["y"]))))
        last["loss"] = loss.item()
        return loss

    scaffold = ScaffoldClient(cfg)  # SCAFFOLD's control variates; inert unless aggregator: scaffold
    while flare.is_running():
        global_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"dice": mean_dice(model, x_eval, y_eval)}))
            continue
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = round_generator(fixed["seed"], site, global_model.current_round)
        losses = []
        steps = local_steps(model, loss_of_batch, len(data), cfg, fixed["batch_size"], gen,
                            scaffold.correction(model, global_model), losses)
        diff = {k: v - before[k] for k, v in model.state_dict().items()}
        flare.send(FLModel(
            params=diff,
            params_type=ParamsType.DIFF,
            metrics={"train_dice_loss_last_batch": last["loss"], "train_loss": mean_loss(losses)},
            meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps, **scaffold.report(model, before, steps)},
        ))


if __name__ == "__main__":
    main()
