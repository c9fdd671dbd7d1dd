"""Fed-Camelyon16 client training script (surface: NVFlare Client API).

Each round: receive the global model, train `local_steps` mini-batches of slides (bags of tile
features) with BCE on the slide logit, send back the weight DIFF with the step count as
aggregation weight. Knobs come from knobs.yaml; the budget (batch size, seed) from the run file.
"""
import numpy as np
import torch
from torch import nn

import nvflare.client as flare
from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.tasks.shared.metrics.ranking import roc_auc
from afr_box.tasks.shared.site_env import budget, knobs, open_site
from models import build_model
from shared.local_training import ScaffoldClient, local_steps, mean_loss, round_generator


def bag_batch(bags: list) -> torch.Tensor:
    """Bags (each (K_i, D) tiles) as one (B, K, D) tensor, zero-padded to the longest (as FLamby's collate_fn)."""
    return nn.utils.rnn.pad_sequence([torch.from_numpy(b) for b in bags], batch_first=True)


def train_auc(model, data) -> float:
    model.eval()
    scores, y = [], []
    with torch.no_grad():
        for i in range(len(data)):  # one slide at a time: a bag can be 10,000 x 2048 floats
            slide = data.sample(i)
            scores.append(model(bag_batch([slide["x"]])))
            y.append(float(slide["y"]))
    try:
        return roc_auc(np.array(y), torch.cat(scores).numpy())
    except ValueError:  # one class only on this site
        return float("nan")


def main():
    torch.set_num_threads(1)
    cfg, fixed = knobs(), budget()
    flare.init()
    site = flare.get_site_name()
    data = open_site(site)  # read lazily: only the slides of each batch are loaded
    model = build_model(cfg["model"])
    bce = nn.BCEWithLogitsLoss()

    def loss_of_batch(idx):
        batch = data.batch(idx)
        return bce(model(bag_batch(batch["x"])), torch.from_numpy(batch["y"]).float())

    scaffold = ScaffoldClient(cfg)  # SCAFFOLD's control variates; inert unless aggregator: scaffold
    while flare.is_running():
        global_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"auc": train_auc(model, data)}))
            continue
        global_metric = train_auc(model, data)  # the received global model on this site's data, before training
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = round_generator(fixed["seed"], site, global_model.current_round)
        losses = []
        steps = local_steps(model, loss_of_batch, len(data), cfg, fixed["batch_size"], gen,
                            scaffold.correction(model, global_model), losses)
        diff = {k: v - before[k] for k, v in model.state_dict().items()}
        flare.send(FLModel(
            params=diff,
            params_type=ParamsType.DIFF,
            metrics={"global_auc": global_metric, "train_loss": mean_loss(losses)},
            meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps, **scaffold.report(model, before, steps)},
        ))


if __name__ == "__main__":
    main()
