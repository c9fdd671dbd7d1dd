"""Typed records: the JSON files of a campaign folder as pydantic models (names in layout.py).

Written with `save`, read with `load` (a malformed file is a RecordError naming the file and the
field) or `load_or` (a file a dead container never wrote). Models read older records too: fields
added later have defaults, unknown fields are kept but not interpreted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from afr_box.orchestrator.errors import RecordError
from afr_box.orchestrator.records.files import read_json, write_json
from afr_box.orchestrator.records.status import Status
from afr_box.sandbox.harness.outputs import ScoreRecord

__all__ = ["CampaignMeta", "ProposalRecord", "GateRecord", "ImageRecord", "CandidateRecord",
           "LiteratureRecord", "ScoreRecord", "Timings", "save", "load", "load_or"]

M = TypeVar("M", bound=BaseModel)


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class CampaignMeta(_Record):
    """campaign.json: what a campaign is pinned to; `--resume`, `try` and replay check it."""

    name: str
    task: str
    proposer: str
    seed: int = 0
    max_candidates: Optional[int] = None
    profile_sha256: str
    policy: str
    policy_sha256: str
    base_image_id: str
    harness_digest: str = ""                 # "" in campaigns made before the base was pinned by harness
    harness_files: dict[str, str] = {}       # sha256 per harness file, so a changed base says what changed
    harness_api: str = "1"                   # the in-container interface of its base image
    created_at: str = ""
    cluster: Optional[str] = None
    registry: Optional[str] = None
    base_repo_digest: Optional[str] = None
    agent: Optional[dict[str, Any]] = None


class ProposalRecord(_Record):
    """proposal.json."""

    description: str = ""
    proposer: str = ""
    sources: list[str] = []
    seed: Optional[int] = None
    agent: Optional[dict[str, Any]] = None
    failed: str = ""                         # an agent that gave no candidate: why


class GateRecord(_Record):
    """gate.json: every check that ran, (name, passed, detail), and the first failure."""

    ok: bool
    reason: str = ""
    checks: list[tuple[str, bool, str]] = []


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
    description: str
    artifacts: str
    candidate: str
    image_id: str = ""
    surface_hash: str = ""
    policy: str = ""
    seed: int
    proposer: str
    reason: str = ""
    finished_at: str = ""
    chain: str = ""
    timings: dict[str, float] = {}
    placement: dict[str, Any] = {}
    agent: Optional[dict[str, Any]] = None


class LiteratureRecord(_Record):
    """literature/<id>/literature.json."""

    id: str
    sources: list[str]
    summary: str = ""
    elapsed_s: float = 0.0
    proposer: str = ""
    logged_at: str = ""


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
