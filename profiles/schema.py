"""Task profiles: the fixed budget, metric and search space of one task, as validated data.

A profile is written by people, never by a candidate. Loading one checks every field;
a mistake fails with the file, the field and what was expected (see `load_profile`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from afr_box.profiles.yaml_models import load_yaml_model, named_yaml
from afr_box.tasks.shared.metrics import METRICS, TAKES_CLASSES, metric_names

PROFILES_DIR = Path(__file__).resolve().parent

Scalar = Union[bool, int, float, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Strict):
    name: str = Field(description="a metric of the scorer's registry (tasks/shared/metrics), e.g. accuracy")
    classes: Optional[int] = Field(None, ge=2, description="class scores per prediction, for the metrics that take them")
    higher_is_better: bool = True
    convention: Literal["per_client_mean", "pooled"] = Field(
        description="FLamby: per_client_mean (unweighted mean over clients); LEAF: pooled"
    )

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; the scorer knows: {', '.join(metric_names())}")
        return name

    @model_validator(mode="after")
    def _classes_where_taken(self) -> "MetricSpec":
        if self.classes is not None and self.name not in TAKES_CLASSES:
            raise ValueError(f"metric {self.name!r} takes no `classes`")
        return self


class LocalSteps(_Strict):
    baseline: int = Field(gt=0)
    min: int = Field(gt=0)
    max: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "LocalSteps":
        if not self.min <= self.baseline <= self.max:
            raise ValueError(f"need min <= baseline <= max, got {self.min}, {self.baseline}, {self.max}")
        return self


class Budget(_Strict):
    """What every candidate of the task gets, identically. Never read from the surface."""

    clients: int = Field(gt=0)
    rounds: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    local_steps: LocalSteps
    seed: int = 42
    timeout_s: int = Field(gt=0, description="wall-clock limit of the training container")
    max_model_params: int = Field(gt=0, description="elements of every numeric array of the final weights, any dtype")
    max_model_bytes: Optional[int] = Field(None, gt=0, description="bytes of those arrays; default 8 per allowed "
                                           "parameter (max_model_params float64 values)")
    eval_clients: Union[Literal["all"], list[int]] = "all"

    def site_names(self) -> list[str]:
        return [f"site-{i + 1}" for i in range(self.clients)]

    def eval_sites(self) -> list[str]:
        if self.eval_clients == "all":
            return self.site_names()
        return [f"site-{i + 1}" for i in self.eval_clients]


# Knob names a candidate may never set: they are the budget.
BUDGET_KEYS = frozenset({"clients", "num_clients", "rounds", "num_rounds", "batch_size", "seed",
                         "timeout_s", "max_model_params", "max_model_bytes", "eval_clients", "min_clients"})


class Dimension(_Strict):
    """One knob of the scalar search space: a choice list or a numeric range."""

    knob: str
    choices: Optional[list[Scalar]] = None
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    integer: bool = False
    when: dict[str, Scalar] = Field(default_factory=dict, description="only sampled when these knobs have these values")

    @model_validator(mode="after")
    def _one_kind(self) -> "Dimension":
        ranged = self.low is not None and self.high is not None
        if (self.choices is not None) == ranged:
            raise ValueError(f"knob {self.knob!r}: give either `choices` or both `low` and `high`")
        if ranged and self.low > self.high:
            raise ValueError(f"knob {self.knob!r}: low {self.low} > high {self.high}")
        if ranged and self.log and self.low <= 0:
            raise ValueError(f"knob {self.knob!r}: a log range needs low > 0")
        if self.knob in BUDGET_KEYS:
            raise ValueError(f"knob {self.knob!r} is a budget field and cannot be searched")
        return self


class ExternalTarget(_Strict):
    """A published figure for the task, to set beside a campaign's repeats (afr-box summary)."""

    label: str = Field(description="what the figure is, e.g. 'AFR paper, selected candidate'")
    value: float
    std: Optional[float] = Field(None, ge=0)
    source: str = Field(description="where it is published: paper, table or figure")


class Smoke(_Strict):
    """The budget of a smoke run: does a candidate build, train, infer and score at all? Through
    the same containers as a scored run, never a row and never a score the agent sees."""

    rounds: int = Field(1, gt=0)
    clients: int = Field(2, gt=0, description="the first N sites (at most the budget's clients)")
    local_steps: int = Field(2, gt=0, description="the bound on local steps per round (a candidate's own is held to it)")
    timeout_s: int = Field(300, gt=0, description="wall-clock limit of each smoke container")


class DataSpec(_Strict):
    bridge: str = Field(description="data bridge module under tasks/<task>/")
    options: dict[str, Any] = Field(default_factory=dict)


class Profile(_Strict):
    task: str
    title: str
    data: DataSpec
    metric: MetricSpec
    budget: Budget
    default_policy: str
    # Fields added after campaigns were first recorded default to their old behaviour, so a
    # campaign's own copy of its profile keeps its meaning; the shipped profiles set them.
    min_delta: Union[Literal["auto"], float] = Field(0.0, description=(
        "a candidate is kept when it beats the best by more than this; `auto`: by more than the baseline's "
        "measured seed noise (the noise floor, pipeline/noise.py)"))
    noise_seeds: int = Field(1, ge=1, le=20, description=(
        "seeds the untouched baseline runs over at campaign start (its own seed first) to measure the noise "
        "floor; 1 = no measurement"))
    search_space: list[Dimension] = Field(default_factory=list)
    candidates_per_gpu: int = Field(1, ge=1, description="how many candidates may share one GPU in --parallel runs")
    heldout_fraction: float = Field(0.0, ge=0.0, lt=1.0, description=(
        "part of each site's test set held out from the search (deterministic split): campaigns score the "
        "rest, `afr-box heldout` scores this part; 0 = no split"))
    plateau_threshold: int = Field(0, ge=0, description="scored candidates without improvement (or since the last "
                                   "literature event) after which the agent must go to the literature; 0 = off")
    external_targets: list[ExternalTarget] = Field(default_factory=list, description=(
        "published figures for this task with their sources, shown beside the repeats by `afr-box summary`"))

    @field_validator("min_delta")
    @classmethod
    def _delta_non_negative(cls, value):
        if value != "auto" and value < 0:
            raise ValueError("min_delta must be >= 0 or auto")
        return value

    smoke: Smoke = Field(default_factory=Smoke, description="the budget of an agent's smoke runs (never a row)")
    guidance: str = Field("", description=(
        "prose for the agent's program: what the metric rewards, the sites, a calibration sequence, known failure "
        "modes; a jinja2 template given the profile's fields (budget, metric, min_delta, ...), so numbers are "
        "rendered from what is enforced, never copied"))

    @model_validator(mode="after")
    def _space_within_budget(self) -> "Profile":
        for dim in self.search_space:
            if dim.knob == "local_steps" and dim.low is not None:
                b = self.budget.local_steps
                if dim.low < b.min or dim.high > b.max:
                    raise ValueError(f"search_space local_steps [{dim.low}, {dim.high}] outside budget bounds [{b.min}, {b.max}]")
        return self


def profile_path(task_or_path: Union[str, Path]) -> Path:
    return named_yaml(task_or_path, PROFILES_DIR)


def available_tasks() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(task_or_path: Union[str, Path]) -> Profile:
    """Load a profile by task name (`heart`) or by path; raises ConfigError naming the field."""
    return load_yaml_model(profile_path(task_or_path), Profile, what="profile", known=available_tasks())
