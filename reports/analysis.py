"""What a campaign's kept candidates changed: the improvement path and mechanism attribution.

Each candidate record holds its complete surface snapshot, so changes are read by comparing
snapshots (never by trusting descriptions: orchestrator/records/changes.py): the baseline's
snapshot (candidate 0) is the reference for attribution, the previous best's for each step of
the path. Files map to mechanism classes; knob files are compared key by key.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afr_box.orchestrator.records.changes import CLASS_ORDER, Change, change_between
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, ProposalRecord, load_or
from afr_box.orchestrator.records.runlog import Row, baseline_row
from afr_box.orchestrator.records.status import Status


@dataclass
class Step:
    candidate: str
    score: float
    gain: float            # over the previous best, in the metric's direction
    description: str
    change: Change
    literature: bool


def _literature(campaign_dir: Path, row: Row) -> bool:
    proposal = load_or(ProposalRecord, CampaignFolder(campaign_dir).artifacts(row.artifacts).proposal)
    sources = proposal.sources if proposal else []
    return bool(sources) or "[src:" in row.description


def improvement_path(campaign_dir: Path, rows: list[Row], higher_is_better: bool) -> list[Step]:
    """The baseline, then every kept candidate that beat the running best, with what it changed
    relative to the best before it."""
    base = baseline_row(rows)
    if base is None or not base.scored:
        return []
    snap = lambda r: CampaignFolder(campaign_dir).artifacts(r.artifacts).surface  # noqa: E731
    steps = [Step(base.candidate, base.score, 0.0, base.description, Change(), False)]
    best = base
    for row in rows:
        if row is base or row.status != Status.KEEP or not row.scored:
            continue
        gain = row.score - best.score if higher_is_better else best.score - row.score
        if gain <= 0:
            continue
        steps.append(Step(row.candidate, row.score, gain, row.description, change_between(snap(best), snap(row)),
                          _literature(campaign_dir, row)))
        best = row
    return steps


def attribution(campaign_dir: Path, rows: list[Row]) -> list[dict[str, Any]]:
    """For each kept candidate: which mechanism classes differ from the baseline's surface."""
    base = baseline_row(rows)
    if base is None:
        return []
    reference = CampaignFolder(campaign_dir).artifacts(base.artifacts).surface
    out = []
    for row in rows:
        if row is base or row.status != Status.KEEP:
            continue
        change = change_between(reference, CampaignFolder(campaign_dir).artifacts(row.artifacts).surface)
        out.append({"candidate": row.candidate, "score": row.score,
                    **{c: (c in change.classes) for c in CLASS_ORDER},
                    "literature": _literature(campaign_dir, row)})
    return out


def environment(meta: CampaignMeta, rows: list[Row]) -> dict[str, Any]:
    """Image ids and versions a reader needs to reproduce the campaign."""
    return {"base image": meta.base_image_id, "harness digest": meta.harness_digest or "-",
            "policy sha256": meta.policy_sha256, "profile sha256": meta.profile_sha256,
            "candidate images": len({r.image_id for r in rows if r.image_id}), "created": meta.created_at}
