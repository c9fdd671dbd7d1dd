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
from afr_box.tasks.shared.site_env import budget, knobs, load_arrays
from models import build_model
from shared.local_training import local_steps, round_generator


def bag_batch(tiles: torch.Tensor, offsets: np.ndarray, idx) -> torch.Tensor:
    """Bags `idx` as one (B, K, D) tensor, zero-padded to the longest (as FLamby's collate_fn)."""
    bags = [tiles[int(offsets[i]):int(offsets[i + 1])] for i in idx]
    return nn.utils.rnn.pad_sequence(bags, batch_first=True)


def train_auc(model, tiles, offsets, y) -> float:
    model.eval()
    with torch.no_grad():
        scores = torch.cat([model(bag_batch(tiles, offsets, [i])) for i in range(len(y))]).numpy()
    try:
        return roc_auc(y.numpy(), scores)
    except ValueError:  # one class only on this site
        return float("nan")


def main():
    torch.set_num_threads(1)
    cfg, fixed = knobs(), budget()
    flare.init()
    site = flare.get_site_name()
    arrays = load_arrays(site)
    tiles, offsets = torch.from_numpy(arrays["x"]), arrays["x_offsets"]
    y = torch.from_numpy(arrays["y"]).float()
    model = build_model(cfg["model"])
    bce = nn.BCEWithLogitsLoss()

    def loss_of_batch(idx):
        return bce(model(bag_batch(tiles, offsets, idx.tolist())), y[idx])

    while flare.is_running():
        global_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"auc": train_auc(model, tiles, offsets, y)}))
            continue
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = round_generator(fixed["seed"], site, global_model.current_round)
        steps = local_steps(model, loss_of_batch, len(y), cfg, fixed["batch_size"], gen)
        diff = {k: v - before[k] for k, v in model.state_dict().items()}
        flare.send(FLModel(
            params=diff,
            params_type=ParamsType.DIFF,
            metrics={"train_auc": train_auc(model, tiles, offsets, y)},
            meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps},
        ))


if __name__ == "__main__":
    main()
