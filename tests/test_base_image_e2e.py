"""`afr-box image build --base-image`: a base built on an image that has a torch of its own (as a CUDA
PyTorch image has) uses that torch: no second torch, no CPU wheel, its version in the base's labels
and in campaign.json; and a candidate on it scores as on the default base.

The image "with its own torch" is made here: afr-os:bookworm with the local torch wheel installed into
its system Python (built once, kept as afr-test-torch-os:bookworm for later runs; nothing deletes it)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from afr_box.orchestrator.campaign.identity import base_pin
from afr_box.orchestrator.cli import main
from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.orchestrator.pipeline.evaluate import Setup, evaluate
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.records.status import Status
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile
from afr_box.sandbox.images import OS_IMAGE, base_tag, find_base, image_runtime, stage_wheelhouse

TORCH_OS = "afr-test-torch-os:bookworm"
TORCH = "2.13.0+cpu"  # the wheel on this disk (notes: torch==2.13.0)
HEART_BASELINE = 0.7304160064342649  # README's baseline table: the whole test set
DOCKERFILE = """FROM afr-os:bookworm
COPY wheels/ /wheels/
RUN python3 -m pip install --break-system-packages --no-index --find-links /wheels torch && rm -rf /wheels /root/.cache
"""


@pytest.fixture(scope="module")
def torch_os(sandbox, tmp_path_factory) -> str:
    if sandbox.images.image_info(TORCH_OS) is None:
        context = tmp_path_factory.mktemp("torch-os")
        (context / "Dockerfile").write_text(DOCKERFILE)
        stage_wheelhouse(context / "wheels", progress=lambda m: None)
        sandbox.images.build_image(context, "Dockerfile", TORCH_OS, {}, {"afr.kind": "test-os"})
    assert image_runtime(sandbox.images, TORCH_OS)[1] == TORCH
    return TORCH_OS


def test_the_default_base_records_the_wheelhouse_torch(sandbox):
    base = find_base(sandbox.images)
    assert base.labels["afr.torch"] == TORCH and base.labels["afr.torch-source"] == "wheelhouse"
    _, version, origin = image_runtime(sandbox.images, base.id, python="/opt/afr/bin/python")
    assert version == TORCH and origin.startswith("/opt/afr/lib/")
    assert base_pin(base)["torch"] == TORCH and base_pin(base)["torch_source"] == "wheelhouse"


def test_a_base_on_an_image_with_its_own_torch_uses_that_torch(torch_os, sandbox, heart_ready, tmp_path):
    result = CliRunner().invoke(main, ["image", "build", "--base-image", torch_os])
    assert result.exit_code == 0, result.output
    assert f"(torch {TORCH} from base-image)" in result.output
    assert f"campaigns use this base when AFR_BASE_IMAGE={torch_os} is set" in result.output
    base = find_base(sandbox.images, torch_os)
    assert base.tags == [base_tag(torch_os)] and base.id != find_base(sandbox.images, OS_IMAGE).id
    assert base.labels["afr.torch"] == TORCH and base.labels["afr.torch-source"] == "base-image"
    # the venv imports the image's own torch, and holds none of its own
    _, version, origin = image_runtime(sandbox.images, base.id, python="/opt/afr/bin/python")
    assert version == TORCH and origin.startswith("/usr/local/lib/python3.11/dist-packages/torch/"), origin
    code, listing = sandbox.images.probe(base.id, ["sh", "-c", "ls /opt/afr/lib/python3.11/site-packages"])
    assert code == 0 and "nvflare" in listing and not any(n.startswith("torch") for n in listing.split()), listing
    pin = base_pin(base)
    assert pin["torch"] == TORCH and pin["torch_source"] == "base-image" and pin["base_image_id"] == base.id

    # a candidate built on it trains, infers and scores: heart's baseline, bit for bit
    profile, policy = load_profile("heart"), load_policy("scalar-hpo")
    setup = Setup(campaign="truth-torch-base", campaign_dir=tmp_path / "c", profile=profile, policy=policy,
                  policy_hash="t", data_dir=(heart_ready / "heart").resolve(), sandbox=sandbox, base=base,
                  eval_split="full")  # the whole test set, as the README's baseline table
    snapshot = baseline_snapshot("heart", policy, tmp_path / "surface")
    outcome = evaluate(setup, "0000", Proposal(snapshot, "baseline on the torch-carrying base", "baseline"))
    assert outcome.status == Status.SCORED, outcome.reason
    assert outcome.score == HEART_BASELINE
    image = sandbox.images.image_info(outcome.image_id)
    assert image.labels["afr.base-id"] == base.id and image.labels["afr.torch-source"] == "base-image"


def test_a_base_image_that_is_not_here_is_one_line(sandbox):
    result = CliRunner().invoke(main, ["image", "build", "--base-image", "afr-truth-no-such-image:1"])
    assert result.exit_code == 2
    line, = result.output.strip().splitlines()
    assert line == ("error: base OS image afr-truth-no-such-image:1 not found locally: `docker pull "
                    "afr-truth-no-such-image:1` (or build it) first; the build itself never pulls")

