"""Fed-Heart-Disease client training script (surface: NVFlare Client API).

Each round: receive the global model, train `local_steps` mini-batches of BCE on this site's
training data, send back the weight DIFF with the step count as aggregation weight.
Knobs come from knobs.yaml; the budget (batch size, seed, step bounds) from the run file.
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


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return float(((model(x) > 0.5).float() == y).float().mean())


def main():
    torch.set_num_threads(1)
    cfg, fixed = knobs(), budget()
    flare.init()
    site = flare.get_site_name()
    arrays = load_arrays(site)
    x, y = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]).float()
    model = build_model(cfg["model"])
    bce = nn.BCELoss()
    smooth = cfg["label_smoothing"]  # binary label smoothing: targets pulled towards 0.5

    def loss_of_batch(idx):
        return bce(model(x[idx]), y[idx] * (1 - smooth) + 0.5 * smooth)

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
