"""What a proposer hands the pipeline: a complete surface snapshot and its description."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Proposal:
    snapshot: Path
    description: str
    proposer: str
    sources: list[str] = field(default_factory=list)
    agent: dict[str, Any] = field(default_factory=dict)  # an agent proposer's usage: tokens, tool calls, cost
    # File edits on top of `snapshot` ({surface path: new text}), as an agent proposes them;
    # every path is checked before anything is written.
    edits: dict[str, str] = field(default_factory=dict)
