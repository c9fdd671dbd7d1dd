"""LEAF Shakespeare client training script (surface: NVFlare Client API).

Each round: receive the global model, train `local_steps` mini-batches of next-character
cross-entropy on this site's training data, send back the weight DIFF with the step count as
aggregation weight. Knobs come from knobs.yaml; the budget (batch size, seed, step bounds)
from the run file.
"""
import numpy as np
import torch
from torch import nn

import nvflare.client as flare
from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.tasks.shared.site_env import budget, knobs, load_arrays
from models import build_model
from shared.local_training import local_steps, round_generator

EVAL_ROWS = 2000   # reported accuracies use the site's first rows only: an LSTM pass is costly
EVAL_BATCH = 500


def accuracy(model, x, y) -> float:
    model.eval()
    x, y = x[:EVAL_ROWS], y[:EVAL_ROWS]
    with torch.no_grad():
        right = sum(int((model(x[i:i + EVAL_BATCH]).argmax(dim=1) == y[i:i + EVAL_BATCH]).sum())
                    for i in range(0, len(y), EVAL_BATCH))
    return right / max(len(y), 1)


def main():
    torch.set_num_threads(1)
    cfg, fixed = knobs(), budget()
    flare.init()
    site = flare.get_site_name()
    arrays = load_arrays(site)
    x, y = torch.from_numpy(arrays["x"]).long(), torch.from_numpy(arrays["y"]).long()
    model = build_model(cfg["model"])
    cross_entropy = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])

    def loss_of_batch(idx):
        return cross_entropy(model(x[idx]), y[idx])

    while flare.is_running():
        global_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"accuracy": accuracy(model, x, y)}))
            continue
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = round_generator(fixed["seed"], site, global_model.current_round)
        steps = local_steps(model, loss_of_batch, len(y), cfg, fixed["batch_size"], gen)
        diff = {k: v - before[k] for k, v in model.state_dict().items()}
        flare.send(FLModel(
            params=diff,
            params_type=ParamsType.DIFF,
            metrics={"train_accuracy": accuracy(model, x, y)},
            meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps},
        ))


if __name__ == "__main__":
    main()
