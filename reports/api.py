"""The Python API for notebooks: one campaign folder as typed records and pandas frames.

    import afr_box
    campaign = afr_box.load_campaign("runs/heart-hpo-20261128-120000")
    campaign.best.score, campaign.candidate("0003").rounds
    frames = campaign.to_pandas()        # .candidates .per_client .rounds .repeats (DataFrames)

Read-only, from the records alone (the same files `afr-box report` reads): nothing is rerun,
nothing is written. Records are the typed models of orchestrator/records/models.py; a record a
dead container never wrote is None, an altered one raises RecordError naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import yaml

from afr_box.orchestrator.errors import RecordError
from afr_box.orchestrator.records.layout import HELDOUT, REPEATS, CampaignFolder, CandidateFolder
from afr_box.orchestrator.records.models import (CampaignMeta, CandidateRecord, ImageRecord, LiteratureRecord,
                                                 ProposalRecord, RoundMetrics, ScoreRecord, Timings, load, load_or,
                                                 load_round_metrics)
from afr_box.orchestrator.records.repeats import Repeat, read_repeats
from afr_box.orchestrator.records.runlog import Row, RunLog, baseline_row, best_row
from afr_box.orchestrator.records.status import FAILED, Status
from afr_box.profiles.schema import Profile, load_profile
from afr_box.reports.analysis import change_between

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Campaign", "Candidate", "Literature", "Frames", "load_campaign"]


@dataclass
class Candidate:
    """One logged candidate: its results.tsv row and the records of its folder."""

    row: Row
    folder: CandidateFolder
    proposal: Optional[ProposalRecord]
    record: Optional[CandidateRecord]
    score: Optional[ScoreRecord]
    image: Optional[ImageRecord]
    timings: dict[str, float]
    knobs: dict[str, Any]
    rounds: Optional[RoundMetrics]
    mechanisms: list[str] = field(default_factory=list)   # file classes changed against the baseline

    @property
    def id(self) -> str:
        return self.row.candidate

    @property
    def status(self) -> Status:
        return self.row.status

    @property
    def agent(self) -> dict[str, Any]:
        """Tokens in/out, tool calls and cost estimate of an agent proposer ({} for scripted ones)."""
        return (self.proposal.agent if self.proposal and self.proposal.agent else None) or {}


@dataclass
class Literature:
    row: Row
    record: Optional[LiteratureRecord]


@dataclass
class Frames:
    candidates: "pd.DataFrame"   # one row per candidate: id, status, score, runtime, mechanisms, agent usage, knobs
    per_client: "pd.DataFrame"   # candidate, client, score (the scorer's per-client values)
    rounds: "pd.DataFrame"       # candidate, round, client ("aggregate" for the server's), metric, value, nonfinite
    repeats: "pd.DataFrame"      # candidate, seed, score, status, split (repeat | heldout)


class Campaign:
    """A campaign folder, read. `candidates` excludes literature rows (they are in `literature`)."""

    def __init__(self, path: Path):
        self.folder = CampaignFolder(Path(path))
        if not self.folder.is_campaign():
            raise RecordError(f"{self.folder.path} is not a campaign folder (no campaign.json)")
        self.meta: CampaignMeta = load(CampaignMeta, self.folder.meta)
        self.profile: Profile = load_profile(self.folder.profile)
        self.rows: list[Row] = RunLog(self.folder.results).rows()

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def higher_is_better(self) -> bool:
        return self.profile.metric.higher_is_better

    @cached_property
    def candidates(self) -> list[Candidate]:
        base = baseline_row(self.rows)
        reference = self.folder.artifacts(base.artifacts).surface if base else None
        out = []
        for row in self.rows:
            if row.status == Status.LITERATURE:
                continue
            folder = self.folder.artifacts(row.artifacts)
            timings = load_or(Timings, folder.timings)
            change = change_between(reference, folder.surface) if reference and row is not base else None
            out.append(Candidate(
                row=row, folder=folder, proposal=load_or(ProposalRecord, folder.proposal),
                record=load_or(CandidateRecord, folder.record), score=load_or(ScoreRecord, folder.score),
                image=load_or(ImageRecord, folder.image), timings=timings.steps() if timings else {},
                knobs=_knobs(folder.surface / self.profile.task / "knobs.yaml"),
                # a failed row's outputs are not trusted (a violation's were refused): never read
                rounds=None if row.status in FAILED else load_round_metrics(folder.round_metrics),
                mechanisms=change.classes if change else []))
        return out

    @cached_property
    def literature(self) -> list[Literature]:
        return [Literature(row, load_or(LiteratureRecord, self.folder.artifacts(row.artifacts).literature))
                for row in self.rows if row.status == Status.LITERATURE]

    @cached_property
    def repeats(self) -> list[Repeat]:
        return read_repeats(self.folder / REPEATS)

    @cached_property
    def heldout(self) -> list[Repeat]:
        return read_repeats(self.folder / HELDOUT)

    def candidate(self, cand: str) -> Candidate:
        for c in self.candidates:
            if c.id == cand:
                return c
        raise RecordError(f"campaign {self.name} has no candidate {cand!r} (it has {', '.join(c.id for c in self.candidates)})")

    @property
    def baseline(self) -> Optional[Candidate]:
        row = baseline_row(self.rows)
        return self.candidate(row.candidate) if row else None

    @property
    def best(self) -> Optional[Candidate]:
        row = best_row(self.rows, self.higher_is_better)
        return self.candidate(row.candidate) if row else None

    def to_pandas(self) -> Frames:
        import pandas as pd

        cands = []
        for c in self.candidates:
            agent = c.agent
            cands.append({"candidate": c.id, "status": str(c.status), "score": c.row.score,
                          "runtime_s": c.row.runtime_seconds, "proposer": c.row.proposer, "seed": c.row.seed,
                          "description": c.row.description, "reason": c.row.reason, "image_id": c.row.image_id,
                          "mechanisms": ", ".join(c.mechanisms), "rounds_recorded": len(c.rounds.rounds) if c.rounds else 0,
                          "input_tokens": agent.get("input_tokens"), "output_tokens": agent.get("output_tokens"),
                          "cost_usd": agent.get("cost_usd_estimate"), "finished_at": c.row.finished_at,
                          **{f"knob.{k}": v for k, v in sorted(c.knobs.items())}})
        per_client = [{"candidate": c.id, "client": site, "score": value}
                      for c in self.candidates if c.score for site, value in sorted(c.score.per_client.items())]
        rounds = []
        for c in self.candidates:
            for entry in (c.rounds.rounds if c.rounds else []):
                bad = set(entry.nonfinite)
                reporters = [*sorted(entry.clients.items()), ("aggregate", entry.aggregate)]
                for who, values in reporters:
                    for metric, value in sorted(values.items()):
                        rounds.append({"candidate": c.id, "round": entry.round, "client": who, "metric": metric,
                                       "value": value, "nonfinite": f"{who}/{metric}" in bad})
        repeats = [{"candidate": r.candidate, "seed": r.seed, "score": r.score, "status": str(r.status), "split": split}
                   for split, rows in (("repeat", self.repeats), ("heldout", self.heldout)) for r in rows]
        frame = lambda rows, cols: pd.DataFrame(rows, columns=cols) if not rows else pd.DataFrame(rows)  # noqa: E731
        return Frames(
            candidates=frame(cands, ["candidate", "status", "score", "runtime_s"]),
            per_client=frame(per_client, ["candidate", "client", "score"]),
            rounds=frame(rounds, ["candidate", "round", "client", "metric", "value", "nonfinite"]),
            repeats=frame(repeats, ["candidate", "seed", "score", "status", "split"]))


def _knobs(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def load_campaign(path: Path | str) -> Campaign:
    """A campaign folder as typed records and pandas frames (see the module's docstring)."""
    return Campaign(Path(path))
