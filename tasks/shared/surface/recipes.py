"""The FedAvg recipe every task's job.py builds (surface under architecture-open)."""
from pathlib import Path

from nvflare.app_opt.pt.recipes.fedavg import FedAvgRecipe
from nvflare.client.config import TransferType

from shared.aggregators import build_aggregator


def fedavg_recipe(name: str, model, client_script: Path, budget: dict, knobs: dict) -> FedAvgRecipe:
    """Rounds and clients come from the budget; the aggregator and server step from the knobs."""
    aggregator = build_aggregator(
        knobs["aggregator"],
        server_lr=knobs["server_lr"],
        momentum=knobs["server_momentum"],
        betas=tuple(knobs["fedadam_betas"]),
        eps=knobs["fedadam_eps"],
    )
    return FedAvgRecipe(
        name=name,
        model=model,
        min_clients=budget["clients"],
        num_rounds=budget["rounds"],
        train_script=str(client_script),
        aggregator=aggregator,
        params_transfer_type=TransferType.DIFF,
    )
