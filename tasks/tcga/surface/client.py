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

from afr_box.tasks.shared.site_env import budget, knobs, open_site
from afr_box.tasks.shared.metrics.survival import concordance_index
from models import build_model
from shared.local_training import ScaffoldClient, local_steps, mean_loss, round_generator


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


EVAL_BATCH = 1024


def tensors(batch):
    return torch.from_numpy(batch["x"]), torch.from_numpy(batch["y"]).float()


def c_index(model, data) -> float:
    model.eval()
    risks, ys = [], []
    with torch.no_grad():
        for batch in data.batches(EVAL_BATCH):
            x, y = tensors(batch)
            risks.append(model(x).numpy())
            ys.append(y.numpy())
    risk, y = np.concatenate(risks), np.concatenate(ys)
    try:
        return concordance_index(y[:, 1], risk, y[:, 0])
    except ValueError:  # no comparable pair on this site
        return float("nan")


def main():
    torch.set_num_threads(1)
    cfg, fixed = knobs(), budget()
    flare.init()
    site = flare.get_site_name()
    data = open_site(site)  # read lazily: only the samples of each batch are loaded
    model = build_model(cfg["model"])

    def loss_of_batch(idx):
        x, y = tensors(data.batch(idx))
        return cox_loss(model(x), y[:, 0], y[:, 1])

    scaffold = ScaffoldClient(cfg)  # SCAFFOLD's control variates; inert unless aggregator: scaffold
    while flare.is_running():
        global_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in global_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"c_index": c_index(model, data)}))
            continue
        global_metric = c_index(model, data)  # the received global model on this site's data, before training
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = round_generator(fixed["seed"], site, global_model.current_round)
        losses = []
        steps = local_steps(model, loss_of_batch, len(data), cfg, fixed["batch_size"], gen,
                            scaffold.correction(model, global_model), losses)
        diff = {k: v - before[k] for k, v in model.state_dict().items()}
        flare.send(FLModel(
            params=diff,
            params_type=ParamsType.DIFF,
            metrics={"global_c_index": global_metric, "train_loss": mean_loss(losses)},
            meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps, **scaffold.report(model, before, steps)},
        ))


if __name__ == "__main__":
    main()
