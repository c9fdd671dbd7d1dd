"""Fed-TCGA-BRCA client training script (surface: NVFlare Client API).

Each round: receive the global model, train `local_steps` mini-batches of the Cox partial
likelihood on this site's patients, send back the weight DIFF with the step count as
aggregation weight. Knobs come from knobs.yaml; the budget (batch size, seed) from the run file.
"""
import numpy as np
import torch

import nvflare.client as flare
from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.tasks.shared.site_env import budget, knobs, load_arrays
from afr_box.tasks.shared.metrics.survival import concordance_index
from models import build_model
from shared.local_training import local_steps, round_generator


def cox_loss(risk: torch.Tensor, event: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood of a batch, Breslow's handling of ties.

    Each patient with an event contributes log sum_{j: T_j >= T_i} exp(risk_j) - risk_i: the
    risk set holds everyone still at risk at T_i, tied times included whatever the batch order.
    (FLamby's BaselineLoss instead sorts the batch by time and lets a tied patient into the risk
    set only of the tied ones after it, so its value depends on the batch order.) As FLamby, the
    sum is divided by the batch size, censored patients included."""
    at_risk = time[None, :] >= time[:, None]
    log_risk_set = torch.logsumexp(risk[None, :].masked_fill(~at_risk, float("-inf")), dim=1)
    return ((log_risk_set - risk) * event).mean()


def c_index(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        risk = model(x).numpy()
    try:
        return concordance_index(y[:, 1].numpy(), risk, y[:, 0].numpy())
    except ValueError:  # no comparable pair on this site
        return float("nan")


def main():
    torch.set_num_threads(1)
    cfg, fixed = knobs(), budget()
    flare.init()
    site = flare.get_site_name()
    arrays = load_arrays(site)
    x, y = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]).float()
    model = build_model(cfg["model"])

    def loss_of_batch(idx):
        return cox_loss(model(x[idx]), y[idx, 0], y[idx, 1])

    while flare.is_running():
        global_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"c_index": c_index(model, x, y)}))
            continue
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = round_generator(fixed["seed"], site, global_model.current_round)
        steps = local_steps(model, loss_of_batch, len(y), cfg, fixed["batch_size"], gen)
        diff = {k: v - before[k] for k, v in model.state_dict().items()}
        flare.send(FLModel(
            params=diff,
            params_type=ParamsType.DIFF,
            metrics={"train_c_index": c_index(model, x, y)},
            meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps},
        ))


if __name__ == "__main__":
    main()
