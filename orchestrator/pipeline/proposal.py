"""What a proposer hands the pipeline: a complete surface snapshot and its description."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from afr_box.orchestrator.records.layout import CandidateFolder
from afr_box.tasks.shared.text import safe_text


@dataclass(frozen=True)
class Proposal:
    snapshot: Path
    description: str
    proposer: str
    sources: list[str] = field(default_factory=list)
    agent: dict[str, Any] = field(default_factory=dict)  # an agent proposer's usage: tokens, tool calls, cost
    search: dict[str, Any] = field(default_factory=dict)  # a scripted search's trial (sampler, params, ...)
    seed: Optional[int] = None  # the run's seed when the proposer sets it (default: the budget's)
    # File edits on top of `snapshot` ({surface path: new text}), as an agent proposes them;
    # every path is checked before anything is written.
    edits: dict[str, str] = field(default_factory=dict)
    transcript: Optional[Path] = None  # an agent's conversation (agent.jsonl), copied into the record
    # Why the snapshot itself was refused before it could be copied (gate check, detail): an
    # external agent's workspace holding a link or an oversized file. Logged as a rejected row.
    refused: Optional[tuple[str, str]] = None

    def __post_init__(self) -> None:  # what the display, the records and the row show: inert, bounded
        object.__setattr__(self, "description", safe_text(self.description))
        object.__setattr__(self, "sources", [safe_text(s) for s in self.sources])


def keep_transcript(proposal: "Proposal", record_dir: Path) -> None:
    """Copy the proposal's transcript into its candidate record (a fresh record folder)."""
    if proposal.transcript is not None and Path(proposal.transcript).is_file():
        target = CandidateFolder(record_dir).transcript
        target.write_bytes(Path(proposal.transcript).read_bytes())
