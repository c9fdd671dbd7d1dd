"""The NVFlare contract of a candidate's client.py and job.py, read from source, never run."""
from __future__ import annotations

import re

import pytest

from afr_box.orchestrator.gate.contract import check_client_contract, check_job_contract

# A realistic NVFlare Client API client for the heart task: it keeps the contract.
VALID_CLIENT = '''\
"""Heart client: local SGD on one site; sends the weight difference to the server."""
import copy

import torch
from torch import nn

import nvflare.client as flare
from nvflare.apis.fl_constant import FLMetaKey
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

from afr_box.tasks.shared import site_env
from afr_box.tasks.heart.surface.models import build_model


def evaluate(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main():
    flare.init()
    knobs = site_env.knobs()
    arrays = site_env.load_arrays(flare.get_site_name())
    x, y = torch.as_tensor(arrays["x"]), torch.as_tensor(arrays["y"]).long()
    model = build_model(knobs)
    loss_fn = nn.CrossEntropyLoss()
    while flare.is_running():
        input_model = flare.receive()
        model.load_state_dict({k: torch.as_tensor(v) for k, v in input_model.params.items()}, strict=True)
        if flare.is_evaluate():
            flare.send(FLModel(metrics={"accuracy": evaluate(model, x, y)}))
            continue
        global_weights = copy.deepcopy(model.state_dict())
        optimizer = torch.optim.SGD(model.parameters(), lr=knobs.get("lr", 0.01))
        steps = int(knobs.get("local_steps", 100))
        for _ in range(steps):
            idx = torch.randint(0, len(x), (4,))
            optimizer.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            optimizer.step()
        diff = {k: (v - global_weights[k]).numpy() for k, v in model.state_dict().items()}
        flare.send(FLModel(params=diff, params_type=ParamsType.DIFF,
                           meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}))


if __name__ == "__main__":
    main()
'''

VALID_JOB = '''\
from nvflare.app_opt.pt.recipes import FedAvgRecipe
from nvflare.client.config import TransferType


def build_recipe(budget, knobs):
    return FedAvgRecipe(
        name="heart",
        model={"path": "afr_box.tasks.heart.surface.models.Net", "args": {}},
        min_clients=budget["clients"],
        num_rounds=budget["rounds"],
        train_script="heart/client.py",
        params_transfer_type=TransferType.DIFF,
    )
'''


def mutate(source: str, old: str, new: str) -> str:
    assert old in source, f"test bug: {old!r} not in the source"
    return source.replace(old, new)


def one(violations: list[str]) -> str:
    assert len(violations) == 1, violations
    assert "\n" not in violations[0]
    return violations[0]


# --------------------------------------------------------------------------- client: accepted


def test_the_realistic_client_keeps_the_contract():
    assert check_client_contract(VALID_CLIENT, "heart/client.py") == []


@pytest.mark.parametrize("imports, alias", [
    ("import nvflare.client as fl_api", "fl_api"),
    ("from nvflare import client as nvc", "nvc"),
    ("from nvflare import client", "client"),
    ("import nvflare.client", "nvflare.client"),
])
def test_an_aliased_client_import_is_resolved(imports, alias):
    source = mutate(VALID_CLIENT, "import nvflare.client as flare", imports)
    source = re.sub(r"\bflare\.", f"{alias}.", source)
    assert check_client_contract(source, "heart/client.py") == []


def test_functions_imported_from_the_client_api_count():
    source = mutate(VALID_CLIENT, "import nvflare.client as flare",
                    "from nvflare.client import init, is_evaluate, is_running, receive, send, get_site_name")
    source = re.sub(r"\bflare\.", "", source)
    assert check_client_contract(source, "heart/client.py") == []


def test_a_model_built_into_a_name_then_sent_is_followed():
    source = mutate(VALID_CLIENT, """        flare.send(FLModel(params=diff, params_type=ParamsType.DIFF,
                           meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}))""",
                    """        output_model = FLModel(params=diff, params_type=ParamsType.DIFF)
        output_model.meta[FLMetaKey.NUM_STEPS_CURRENT_ROUND] = steps
        flare.send(output_model)""")
    assert check_client_contract(source, "heart/client.py") == []


def test_string_forms_and_aliased_nvflare_names_are_accepted():
    source = mutate(VALID_CLIENT, "from nvflare.app_common.abstract.fl_model import FLModel, ParamsType",
                    "from nvflare.client import FLModel as Update, ParamsType as PT")
    source = mutate(source, "flare.send(FLModel(params=diff, params_type=ParamsType.DIFF,",
                    "flare.send(Update(params=diff, params_type=PT.DIFF,")
    source = mutate(source, "flare.send(FLModel(metrics=", "flare.send(Update(metrics=")
    assert check_client_contract(source, "heart/client.py") == []
    source = mutate(VALID_CLIENT, "params_type=ParamsType.DIFF", 'params_type="DIFF"')
    source = mutate(source, "meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}",
                    'meta={"NUM_STEPS_CURRENT_ROUND": steps}')
    assert check_client_contract(source, "heart/client.py") == []


def test_load_state_dict_without_strict_is_fine():
    source = mutate(VALID_CLIENT, ", strict=True)", ")")
    assert check_client_contract(source, "heart/client.py") == []


# --------------------------------------------------------------------------- client: refused


def test_a_client_that_sends_the_full_model_is_refused():
    source = mutate(VALID_CLIENT, "params_type=ParamsType.DIFF", "params_type=ParamsType.FULL")
    msg = one(check_client_contract(source, "heart/client.py"))
    assert msg.startswith("heart/client.py:")
    assert "params_type=ParamsType.FULL" in msg and "write params_type=ParamsType.DIFF" in msg


def test_a_client_without_params_type_is_refused():
    source = mutate(VALID_CLIENT, "params=diff, params_type=ParamsType.DIFF,", "params=diff,")
    assert "add params_type=ParamsType.DIFF" in one(check_client_contract(source, "heart/client.py"))


def test_a_client_without_the_step_count_is_refused():
    source = mutate(VALID_CLIENT, "meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}", 'meta={"steps": steps}')
    msg = one(check_client_contract(source, "heart/client.py"))
    assert "NUM_STEPS_CURRENT_ROUND" in msg and "meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}" in msg


def test_a_look_alike_params_type_not_from_nvflare_is_refused():
    source = mutate(VALID_CLIENT, "from nvflare.app_common.abstract.fl_model import FLModel, ParamsType",
                    "from nvflare.app_common.abstract.fl_model import FLModel\n\n\n"
                    "class ParamsType:\n    DIFF = 'FULL'\n")
    assert "ParamsType.DIFF" in one(check_client_contract(source, "heart/client.py"))


def test_sending_something_other_than_an_fl_model_is_refused():
    source = mutate(VALID_CLIENT, """        flare.send(FLModel(params=diff, params_type=ParamsType.DIFF,
                           meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}))""",
                    "        flare.send(input_model)")
    msg = one(check_client_contract(source, "heart/client.py"))
    assert "must send an FLModel" in msg and "ParamsType.DIFF" in msg


def test_a_client_without_the_while_loop_is_refused():
    source = mutate(VALID_CLIENT, "while flare.is_running():", "for _ in range(15):")
    msg = one(check_client_contract(source, "heart/client.py"))
    assert "no `while flare.is_running():` loop" in msg


def test_a_client_without_an_evaluate_branch_is_refused():
    source = mutate(VALID_CLIENT, """        if flare.is_evaluate():
            flare.send(FLModel(metrics={"accuracy": evaluate(model, x, y)}))
            continue
""", "")
    assert "if flare.is_evaluate():" in one(check_client_contract(source, "heart/client.py"))


def test_without_an_evaluate_branch_the_missing_branch_is_named_first():
    source = mutate(VALID_CLIENT, "if flare.is_evaluate():", "if False:")
    violations = check_client_contract(source, "heart/client.py")
    assert "if flare.is_evaluate():" in violations[0]


def test_a_client_that_loads_weights_non_strictly_is_refused():
    source = mutate(VALID_CLIENT, "strict=True", "strict=False")
    msg = one(check_client_contract(source, "heart/client.py"))
    assert "strict=False" in msg and "strict=True" in msg


def test_a_client_that_hides_strict_in_kwargs_is_refused():
    source = mutate(VALID_CLIENT, ", strict=True)", ", **opts)")
    assert "strict" in one(check_client_contract(source, "heart/client.py"))


def test_a_client_without_init_receive_or_send_is_refused():
    assert "flare.init()" in one(check_client_contract(mutate(VALID_CLIENT, "    flare.init()\n", ""), "c.py"))
    source = mutate(VALID_CLIENT, "input_model = flare.receive()", "input_model = None")
    assert "flare.receive()" in one(check_client_contract(source, "c.py"))
    source = mutate(VALID_CLIENT, """        flare.send(FLModel(params=diff, params_type=ParamsType.DIFF,
                           meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}))""", "        pass")
    assert "never sends a training update" in one(check_client_contract(source, "c.py"))


def test_a_client_that_does_not_use_the_client_api_is_refused():
    source = mutate(VALID_CLIENT, "import nvflare.client as flare", "import my_own_loop as flare")
    assert "import nvflare.client as flare" in one(check_client_contract(source, "heart/client.py"))


def test_a_client_that_does_not_parse_is_refused_with_its_line():
    msg = one(check_client_contract("import nvflare.client as flare\ndef f(:\n", "heart/client.py"))
    assert msg.startswith("heart/client.py:2:")


# --------------------------------------------------------------------------- job


def test_the_job_takes_its_budget_from_the_budget_argument():
    assert check_job_contract(VALID_JOB) == []


@pytest.mark.parametrize("old, new, key", [
    ('num_rounds=budget["rounds"]', "num_rounds=50", "num_rounds"),
    ('min_clients=budget["clients"]', "min_clients=2", "min_clients"),
])
def test_a_job_that_hard_codes_the_budget_is_refused(old, new, key):
    msg = one(check_job_contract(mutate(VALID_JOB, old, new), "heart/job.py"))
    assert msg.startswith("heart/job.py:") and f"{key}=" in msg and "budget[" in msg


def test_a_hard_coded_budget_in_a_variable_or_default_is_refused():
    source = mutate(VALID_JOB, "def build_recipe(budget, knobs):",
                    "num_rounds = 50\n\n\ndef build_recipe(budget, knobs):")
    assert "num_rounds=50" in one(check_job_contract(source))
    source = mutate(VALID_JOB, "def build_recipe(budget, knobs):", "def build_recipe(budget, knobs, min_clients=1):")
    assert "min_clients=1" in one(check_job_contract(source))


def test_a_job_without_build_recipe_is_refused():
    source = mutate(VALID_JOB, "def build_recipe(budget, knobs):", "def make_recipe(budget, knobs):")
    assert "def build_recipe(budget, knobs):" in one(check_job_contract(source))


def test_a_build_recipe_that_cannot_take_budget_and_knobs_is_refused():
    source = mutate(VALID_JOB, "def build_recipe(budget, knobs):", "def build_recipe():")
    assert "build_recipe(budget, knobs)" in one(check_job_contract(source))
    source = mutate(VALID_JOB, "def build_recipe(budget, knobs):", "def build_recipe(budget, knobs, extra):")
    assert "build_recipe(budget, knobs)" in one(check_job_contract(source))
