"""Typed records: the JSON files of a campaign folder as pydantic models (names in layout.py).

Written with `save`, read with `load` (a malformed file is a RecordError naming the file and the
field) or `load_or` (a file a dead container never wrote). Models read older records too: fields
added later have defaults, unknown fields are kept but not interpreted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from afr_box.orchestrator.errors import RecordError
from afr_box.orchestrator.records.files import read_json, write_json
from afr_box.orchestrator.records.status import Status
from afr_box.sandbox.harness.outputs import ScoreRecord
from afr_box.sandbox.harness.round_metrics import MAX_BYTES as MAX_ROUND_BYTES
from afr_box.sandbox.harness.round_metrics import RoundMetrics, RoundMetricsError, parse_round_metrics
from afr_box.tasks.shared.text import safe_text

__all__ = ["CampaignMeta", "NoiseRecord", "FindingsRecord", "Finding", "SplitResult", "ProposalRecord", "GateRecord",
           "ImageRecord", "CandidateRecord", "LiteratureRecord", "ScoreRecord", "RoundMetrics", "Timings", "save",
           "load", "load_or", "load_round_metrics", "AgentSession"]

M = TypeVar("M", bound=BaseModel)
# Text that a candidate or an agent wrote (descriptions, reasons, sources): bounded and inert
# before it is kept (tasks/shared/text.py), whoever builds the record.
Text = Annotated[str, AfterValidator(safe_text)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class NoiseRecord(_Record):
    """campaign.json's `noise`: the untouched baseline over its noise seeds (pipeline/noise.py)."""

    seeds: list[int] = []
    scores: dict[str, float] = {}            # by seed (JSON keys are strings)
    mean: Optional[float] = None
    std: Optional[float] = None              # sample standard deviation; None with fewer than 2 scores
    delta: Optional[float] = None            # the keep delta `min_delta: auto` resolves to
    rule: str = ""


class CampaignMeta(_Record):
    """campaign.json: what a campaign is pinned to; `--resume`, `try` and replay check it."""

    name: str
    task: str
    proposer: str
    sampler: Optional[str] = None            # --proposer optuna: random, tpe, cmaes, qmc or gp
    seed: int = 0
    max_candidates: Optional[int] = None
    profile_sha256: str
    policy: str
    policy_sha256: str
    base_image_id: str
    harness_digest: str = ""                 # "" in campaigns made before the base was pinned by harness
    harness_files: dict[str, str] = {}       # sha256 per harness file, so a changed base says what changed
    harness_api: str = "1"                   # the in-container interface of its base image
    torch: Optional[str] = None              # the torch its base's venv imports (bases built since it was recorded)
    torch_source: Optional[str] = None       # "wheelhouse", or "base-image": the image it was built on had its own
    created_at: str = ""
    cluster: Optional[str] = None
    registry: Optional[str] = None
    base_repo_digest: Optional[str] = None
    agent: Optional[dict[str, Any]] = None
    noise: Optional[NoiseRecord] = None      # written once the baseline's noise seeds have run


class ProposalRecord(_Record):
    """proposal.json."""

    description: Text = ""
    proposer: str = ""
    sources: list[Text] = []
    seed: Optional[int] = None
    agent: Optional[dict[str, Any]] = None
    failed: Text = ""                        # an agent that gave no candidate: why
    search: Optional[dict[str, Any]] = None  # a scripted search's trial: sampler, number, params, told_before


class GateRecord(_Record):
    """gate.json: every check that ran, (name, passed, detail), and the first failure."""

    ok: bool
    reason: Text = ""
    checks: list[tuple[str, bool, Text]] = []
    surface_hash: str = ""                   # the hash of the gated bytes, taken at gate time (what is built)


class ImageRecord(_Record):
    """image.json."""

    id: str
    tags: list[str] = []
    built_now: bool = False
    base_id: str = ""
    layers: list[str] = []
    labels: dict[str, str] = {}
    size: int = 0
    repo_digest: Optional[str] = None


class CandidateRecord(_Record):
    """record.json: the logged row's cells plus how long each step took; written last."""

    commit: str
    score: Optional[float] = None
    runtime_seconds: float
    budget: str
    status: Status
    target: str
    description: Text
    artifacts: str
    candidate: str
    image_id: str = ""
    surface_hash: str = ""
    policy: str = ""
    seed: int
    proposer: str
    reason: Text = ""
    finished_at: str = ""
    chain: str = ""
    timings: dict[str, float] = {}
    placement: dict[str, Any] = {}
    agent: Optional[dict[str, Any]] = None


class LiteratureRecord(_Record):
    """literature/<id>/literature.json."""

    id: str
    sources: list[Text]
    summary: Text = ""
    elapsed_s: float = 0.0
    proposer: str = ""
    logged_at: str = ""


class SplitResult(_Record):
    """One candidate's repeats on one split: its scores by seed and the paired difference to the baseline."""

    n: int = 0
    scores: dict[str, float] = {}            # by seed (JSON keys are strings)
    mean: Optional[float] = None
    std: Optional[float] = None
    half_width: Optional[float] = None       # 95% Student's t
    diff: Optional[float] = None             # paired mean of candidate - baseline over matched seeds
    diff_half_width: Optional[float] = None
    diff_n: int = 0


class Finding(_Record):
    """One repeated candidate of findings.json."""

    candidate: str
    description: str = ""
    proposer: str = ""
    campaign_score: Optional[float] = None   # its single run in the campaign (what selected it)
    selected: bool = False                   # the campaign's best: what the search selected
    splits: dict[str, SplitResult] = {}      # "test" (the evaluation set), "heldout", "full"
    label: str = ""
    recovered_by: Optional[str] = None       # control campaign/candidate that reaches it


class FindingsRecord(_Record):
    """findings.json: `afr-box finish` (orchestrator/findings/finish.py, labels.py)."""

    campaign: str
    task: str
    metric: str = ""
    higher_is_better: bool = True
    seeds: list[int] = []
    splits: list[str] = []                   # what each split is: see Setup.eval_split
    heldout_fraction: float = 0.0
    baseline: str = ""
    best: str = ""
    controls: list[str] = []
    findings: list[Finding] = []
    finished_at: str = ""
    wall_s: float = 0.0


class AgentSession(_Record):
    """agents/<session>/session.json: an external agent's jail session, written at its start and end."""

    id: str
    driver: str
    command: list[str] = []                  # what ran in the jail (the kickoff prompt included)
    image: str = ""                          # the jail image id
    agents: dict[str, str] = {}              # agent CLIs in that image, with versions
    allow_hosts: list[str] = []              # what the egress proxy let through
    training_data: bool = False
    started_at: str = ""
    finished_at: str = ""
    exit_code: Optional[int] = None
    timed_out: bool = False
    wall_s: float = 0.0
    requests: dict[str, int] = {}            # channel requests by verb
    egress: dict[str, int] = {}              # proxy attempts by verdict
    candidates: list[str] = []               # the candidates its tries logged


class Timings(_Record):
    """timings.json: seconds per step; steps that did not run are absent."""

    model_config = ConfigDict(extra="allow")

    def steps(self) -> dict[str, float]:
        return {k: float(v) for k, v in (self.model_extra or {}).items()}


def save(record: BaseModel, path: Path) -> Path:
    """Write a record atomically (JSON, sorted keys). Only the fields that were given are written,
    so an optional field that does not apply (an agent, a cluster placement) is absent, not null."""
    return write_json(path, record.model_dump(mode="json", exclude_unset=True))


def load(model: type[M], path: Path) -> M:
    """Read a record; RecordError naming the file and the field when it is missing or malformed."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise RecordError(f"{path} is missing: the campaign folder is incomplete or not a campaign") from None
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path} is not readable JSON ({exc}); restore it from a copy or start again") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise RecordError(f"{path}: {field}: {err['msg']} (the record was altered or comes from another tool)") from None


def load_or(model: type[M], path: Path, default=None):
    """A record that may be missing or unreadable (a container that died early): `default` then."""
    try:
        return load(model, path)
    except RecordError:
        return default


def load_round_metrics(path: Path) -> Optional[RoundMetrics]:
    """train/round_metrics.json, checked by the same rules as when it was written (a record edited
    since into NaN or an oversized file is refused: RecordError); None when the run recorded none."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_ROUND_BYTES + 1)
    except FileNotFoundError:
        return None
    try:
        return parse_round_metrics(data)
    except RoundMetricsError as exc:
        raise RecordError(f"{path}: {exc} (the record was altered after the run)") from None
