"""round_metrics.json: what NVFlare passed per round (the clients' reported metrics and the
aggregate the server computed), bounded and checked, read the same way by the runner and the host.

    {"rounds": [{"round": 0,
                 "clients": {"site-1": {"global_accuracy": 0.61, "train_loss": 0.66}, ...},
                 "aggregate": {"global_accuracy": 0.60, "train_loss": 0.65},
                 "nonfinite": ["site-2/train_loss"]}, ...],
     "dropped": 0}

Every number comes from candidate code (the clients compute them), so none is trusted:
the trusted collector (round_collector.py) records a reported NaN or infinity as null and names
it in `nonfinite` (a diverged round, marked in the report), keeps at most MAX_METRICS names per
reporter and counts the rest in `dropped`. A file that breaks these rules (a non-finite number, more
rounds or clients than the budget, an oversized file) was not written by the collector: the
runner refuses the run as a violation, and the host refuses such a file in /out the same way.
"""
from __future__ import annotations

import json
import math
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_BYTES = 512 * 1024        # a 1000-round, 10-client run of a few metrics fits many times over
MAX_ROUNDS = 1000
MAX_CLIENTS = 64
MAX_METRICS = 16              # names kept per reporter (a client, or the aggregate)
MAX_NAME = 64
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/")


class RoundMetricsError(ValueError):
    """round_metrics.json (or the collector's file behind it) breaks the rules above."""


def _check_values(values: dict[str, Optional[float]], where: str) -> dict[str, Optional[float]]:
    if len(values) > MAX_METRICS:
        raise ValueError(f"{where}: {len(values)} metrics (at most {MAX_METRICS})")
    for name, value in values.items():
        if not name or len(name) > MAX_NAME or not set(name) <= NAME_CHARS:
            raise ValueError(f"{where}: metric name {name[:80]!r} is not 1-{MAX_NAME} characters of [A-Za-z0-9_.-/]")
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{where}/{name}: {value!r} is not a finite number")
    return values


class RoundEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    round: int = Field(ge=0, lt=MAX_ROUNDS)
    clients: dict[str, dict[str, Optional[float]]] = {}
    aggregate: dict[str, Optional[float]] = {}
    nonfinite: list[str] = Field(default=[], max_length=(MAX_CLIENTS + 1) * MAX_METRICS)

    @field_validator("clients")
    @classmethod
    def _clients(cls, clients):
        if len(clients) > MAX_CLIENTS:
            raise ValueError(f"{len(clients)} clients (at most {MAX_CLIENTS})")
        for site, values in clients.items():
            if not site or len(site) > MAX_NAME or not set(site) <= NAME_CHARS:
                raise ValueError(f"client name {site[:80]!r} is not 1-{MAX_NAME} characters of [A-Za-z0-9_.-/]")
            _check_values(values, site)
        return clients

    @field_validator("aggregate")
    @classmethod
    def _aggregate(cls, values):
        return _check_values(values, "aggregate")

    @field_validator("nonfinite")
    @classmethod
    def _nonfinite(cls, names):
        if any(len(n) > 2 * MAX_NAME + 1 for n in names):
            raise ValueError("a nonfinite entry is longer than client/metric")
        return names


class RoundMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    rounds: list[RoundEntry] = Field(default=[], max_length=MAX_ROUNDS)
    dropped: int = Field(default=0, ge=0)


def _no_constants(token: str):
    raise ValueError(f"{token} is not a finite number")


def parse_round_metrics(data: bytes, rounds: Optional[int] = None, clients: Optional[list[str]] = None) -> RoundMetrics:
    """The checked content of a round-metrics file; RoundMetricsError saying what is wrong. With
    `rounds` and `clients` (the budget) it also checks round indices and client names against them."""
    if len(data) > MAX_BYTES:
        raise RoundMetricsError(f"{len(data)} bytes (at most {MAX_BYTES})")
    try:
        parsed = json.loads(data.decode("utf-8"), parse_constant=_no_constants)
        metrics = RoundMetrics.model_validate(parsed)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise RoundMetricsError(f"{where}: {err['msg']}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise RoundMetricsError(f"not strict JSON ({exc})") from None
    if rounds is not None:
        seen = [e.round for e in metrics.rounds]
        if any(r >= rounds for r in seen) or len(set(seen)) != len(seen):
            raise RoundMetricsError(f"rounds {seen} are not distinct rounds of the budget's {rounds}")
    if clients is not None:
        extra = sorted({s for e in metrics.rounds for s in e.clients} - set(clients))
        if extra:
            raise RoundMetricsError(f"clients {extra[:5]} are not budget sites")
    return metrics
