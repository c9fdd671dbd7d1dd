"""The read-only run file: everything a container is told, written by the orchestrator.

It carries the profile's budget, never anything from the surface, so a candidate cannot
change its own rounds, clients, seed or parameter cap; the scorer's also carries the campaign's
local-compute bound (orchestrator/pipeline/compute.py). Mounted at /run/run.json.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict

from afr_box.sandbox.harness.paths import RUN_FILE as CONTAINER_PATH


class RunFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    phase: Literal["train", "infer", "score"]
    budget: dict[str, Any]
    sites: list[str]
    eval_sites: list[str]
    metric: dict[str, Any]
    candidate: str = ""
    # The score phase's: {"site_cpu_s": the most CPU seconds a site's client may use, "how": its
    # derivation}; None: no bound (a smoke run, a calibration, `afr-box bench`).
    compute_bound: Optional[dict[str, Any]] = None

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n")
        os.chmod(path, 0o644)
        return path

    @classmethod
    def read(cls, path: Path | str = CONTAINER_PATH) -> "RunFile":
        return cls.model_validate(json.loads(Path(path).read_text()))
