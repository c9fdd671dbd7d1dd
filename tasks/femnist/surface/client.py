"""LEAF FEMNIST client training script (surface: NVFlare Client API).

Each round: receive the global model, train `local_steps` mini-batches of cross-entropy on this site's
training data, send back the weight DIFF with the step count as aggregation weight.
Knobs come from knobs.yaml; the budget (batch size, seed, step bounds) from the run file.
"""
import numpy as np
import torch
from torch import nn

import nvflare.client as flare
from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.tasks.shared.site_env import budget, knobs, open_site
from models import build_model
from shared.local_training import ScaffoldClient, local_steps, mean_loss, round_generator


EVAL_ROWS = 2000   # reported accuracies use the site's first rows only: a full LEAF site is ~200k samples
EVAL_BATCH = 500


def tensors(batch):
    return torch.from_numpy(batch["x"]), torch.from_numpy(batch["y"]).long()


def accuracy(model, data) -> float:
    model.eval()
    rows = min(len(data), EVAL_ROWS)
    hits = 0
    with torch.no_grad():
        for start in range(0, rows, EVAL_BATCH):
            x, y = tensors(data.batch(np.arange(start, min(start + EVAL_BATCH, rows))))
            hits += int((model(x).argmax(dim=1) == y).sum())
    return hits / max(rows, 1)


def main():
    torch.set_num_threads(1)
    cfg, fixed = knobs(), budget()
    flare.init()
    site = flare.get_site_name()
    data = open_site(site)  # read lazily: only the samples of each batch are loaded
    model = build_model(cfg["model"])
    cross_entropy = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])

    def loss_of_batch(idx):
        x, y = tensors(data.batch(idx))
        return cross_entropy(model(x), y)

    scaffold = ScaffoldClient(cfg)  # SCAFFOLD's control variates; inert unless aggregator: scaffold
    while flare.is_running():
        global_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"accuracy": accuracy(model, data)}))
            continue
        global_metric = accuracy(model, data)  # the received global model on this site's data, before training
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = round_generator(fixed["seed"], site, global_model.current_round)
        losses = []
        steps = local_steps(model, loss_of_batch, len(data), cfg, fixed["batch_size"], gen,
                            scaffold.correction(model, global_model), losses)
        diff = {k: v - before[k] for k, v in model.state_dict().items()}
        flare.send(FLModel(
            params=diff,
            params_type=ParamsType.DIFF,
            metrics={"global_accuracy": global_metric, "train_loss": mean_loss(losses)},
            meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps, **scaffold.report(model, before, steps)},
        ))


if __name__ == "__main__":
    main()
