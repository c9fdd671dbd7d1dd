"""What the trusted scorer writes (score.json): one model, read the same way by the host."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict


class ScoreRecord(BaseModel):
    """score.json: the score and how it was reached, or why the outputs were refused."""

    model_config = ConfigDict(extra="ignore")

    score: Optional[float] = None
    metric: str = ""
    convention: str = ""
    per_client: dict[str, float] = {}
    n_params: Optional[int] = None
    rounds_completed: Optional[int] = None
    weights_sha256: str = ""                              # the final weights' arrays (scorer.weights_digest)
    site_cpu_s: dict[str, float] = {}                     # each site's local compute, as the fork server counted it
    compute_bound_s: Optional[float] = None               # the bound it was held against (None: none)
    refused: str = ""                                     # why the outputs cannot be scored
    refused_kind: Literal["", "budget", "output"] = ""    # budget: a rule was broken; output: malformed
