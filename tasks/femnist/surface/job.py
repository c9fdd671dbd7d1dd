"""LEAF FEMNIST job (surface): builds the FedAvg recipe and picks the aggregator.

The runner calls `build_recipe(budget, knobs)` and checks the exported job against the
budget; rounds and clients must come from `budget`, never from literals here.
"""
from pathlib import Path

from models import build_model
from shared.recipes import fedavg_recipe


def build_recipe(budget: dict, knobs: dict):
    return fedavg_recipe("femnist", build_model(knobs["model"]), Path(__file__).with_name("client.py"), budget, knobs)
