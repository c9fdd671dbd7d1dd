"""LEAF Synthetic job (surface): builds the FedAvg recipe and picks the aggregator.

The runner calls `build_recipe(budget, knobs)` and checks the exported job against the
budget; rounds and clients must come from `budget`, never from literals here.
"""
from pathlib import Path

from nvflare.app_opt.pt.recipes.fedavg import FedAvgRecipe
from nvflare.client.config import TransferType

from models import build_model
from shared.aggregators import build_aggregator


def build_recipe(budget: dict, knobs: dict) -> FedAvgRecipe:
    aggregator = build_aggregator(
        knobs["aggregator"],
        server_lr=knobs["server_lr"],
        momentum=knobs["server_momentum"],
        betas=tuple(knobs["fedadam_betas"]),
        eps=knobs["fedadam_eps"],
    )
    return FedAvgRecipe(
        name="synthetic",
        model=build_model(knobs["model"]),
        min_clients=budget["clients"],
        num_rounds=budget["rounds"],
        train_script=str(Path(__file__).with_name("client.py")),
        aggregator=aggregator,
        params_transfer_type=TransferType.DIFF,
    )
