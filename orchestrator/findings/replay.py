"""`afr-box replay`: rerun a logged candidate from its image and compare with the logged score.

The candidate's surface snapshot must still hash to the logged surface hash (an altered record
is refused). Its image is used when it still exists with matching labels; otherwise it is
rebuilt from the recorded base and the snapshot, and the rebuilt surface is verified like any
candidate's. The replay runs through the same sandbox and scorer, into
`runs/<campaign>/replays/<id>-<n>/`, and must reproduce the score exactly (CPU, same seed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from afr_box.orchestrator.errors import ReplayError
from afr_box.orchestrator.gate.surface import surface_hash
from afr_box.orchestrator.pipeline.compute import ComputeBound
from afr_box.orchestrator.pipeline.evaluate import Setup, evaluate
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.pipeline.verify import DataGuard
from afr_box.orchestrator.records.layout import REPLAYS, CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, ImageRecord, load, load_or
from afr_box.orchestrator.records.owner import in_use
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.orchestrator.records.status import Status
from afr_box.policies.schema import Policy, load_policy
from afr_box.profiles.schema import Profile, load_profile
from afr_box.sandbox.errors import RegistryError
from afr_box.sandbox.images import HARNESS_API, LAZY_DATA_API, candidate_tag, find_base
from afr_box.sandbox.provider import Sandbox
from afr_box.sandbox.providers import local_sandbox
from afr_box.tasks.shared.hashing import sha256_file
from afr_box.tasks.shared.prepared import heldout_view


@dataclass
class ReplayResult:
    candidate: str
    logged_score: Optional[float]
    replay_score: Optional[float]
    status: str
    reason: str
    image_id: str
    image_reused: bool
    folder: Path
    base_changed: bool = False  # the recorded base image was gone: rebuilt on today's base

    @property
    def match(self) -> bool:
        a, b = self.logged_score, self.replay_score
        return a is not None and b is not None and (a == b or (math.isnan(a) and math.isnan(b)))


@dataclass(frozen=True)
class Logged:
    """A logged, scored candidate whose record still matches what was logged."""

    campaign_dir: Path
    meta: CampaignMeta
    row: Row
    snapshot: Path
    profile: Profile
    policy: Policy


def load_logged(campaign_dir: Path, cand: str) -> Logged:
    folder = CampaignFolder(Path(campaign_dir).resolve())
    campaign_dir = folder.path
    meta = load(CampaignMeta, folder.meta)
    rows = {r.candidate: r for r in RunLog(folder.results).rows()}
    if cand not in rows:
        raise ReplayError(f"candidate {cand!r} is not in {folder.results} (logged: {', '.join(sorted(rows))})")
    row = rows[cand]
    if row.score is None:
        raise ReplayError(f"candidate {cand} was logged as {row.status} without a score: nothing to compare")
    for path, recorded in ((folder.profile, meta.profile_sha256), (folder.policy, meta.policy_sha256)):
        if sha256_file(path) != recorded:
            raise ReplayError(f"{path} no longer matches its recorded sha256: the record was altered")
    snapshot = folder.artifacts(row.artifacts).surface
    actual = surface_hash(snapshot)
    if actual != row.surface_hash:
        raise ReplayError(f"surface snapshot of {cand} hashes to {actual[:16]}, but {row.surface_hash[:16]} was logged: "
                          "hash mismatch, the snapshot was altered")
    return Logged(campaign_dir, meta, row, snapshot, load_profile(folder.profile), load_policy(folder.policy))


def pull_logged_images(sandbox: Sandbox, logged: Logged) -> None:
    """A cluster candidate whose images are not on this engine: pull them by their logged digests
    (each pulled id must equal the logged id), so the rerun uses the very images that were logged.
    Without a digest, or with the registry out of reach, the replay rebuilds as usual."""
    image_record = load_or(ImageRecord, CampaignFolder(logged.campaign_dir).artifacts(logged.row.artifacts).image)
    wanted = [(logged.meta.base_repo_digest, logged.meta.base_image_id, None),
              (image_record.repo_digest if image_record else None, logged.row.image_id,
               candidate_tag(logged.profile.task, logged.row.surface_hash))]
    images = sandbox.images
    for ref, image_id, tag in wanted:
        if not ref or images.image_info(image_id) is not None:
            continue
        try:
            images.pull(ref, image_id)
        except RegistryError:
            return
        if tag:  # the candidate tag is what the builder looks for before rebuilding
            images.tag(image_id, tag)


def rerun_setup(logged: Logged, name: str, folder: Path, data_root: Path, sandbox: Sandbox) -> tuple[Setup, bool]:
    """A Setup that reruns the logged candidate on its recorded base (or today's, if gone).

    A candidate logged on a base with another in-container interface (an older afr-box) is refused
    when that base is gone: its surface was written against that harness."""
    recorded_base = sandbox.images.image_info(logged.meta.base_image_id)
    if recorded_base is None and logged.meta.harness_api != HARNESS_API:
        raise ReplayError(
            f"campaign {logged.meta.name} was made on base {logged.meta.base_image_id[:19]} (harness api "
            f"{logged.meta.harness_api}), which is not on this engine, and this afr-box's harness (api {HARNESS_API}) "
            "cannot rebuild its candidates faithfully: load that base image, or replay with the afr-box version "
            "the campaign was made with")
    if recorded_base is not None and int(logged.meta.harness_api) < LAZY_DATA_API:
        raise ReplayError(
            f"campaign {logged.meta.name} was made on base {logged.meta.base_image_id[:19]} (harness api "
            f"{logged.meta.harness_api}), whose harness reads the older .npz data layout that this afr-box no longer "
            "prepares: replay it with the afr-box version the campaign was made with, on data prepared by that version")
    data_dir = (Path(data_root) / logged.profile.task).resolve()
    view = heldout_view(data_dir, logged.profile.heldout_fraction) if logged.profile.heldout_fraction else None
    guard = DataGuard.start([data_dir] + ([view] if view else []))  # full once; identity after each rerun
    setup = Setup(campaign=name[:60], campaign_dir=folder, profile=logged.profile, policy=logged.policy,
                  policy_hash=logged.meta.policy_sha256,
                  data_dir=data_dir, sandbox=sandbox, base=recorded_base or find_base(sandbox.images),
                  data_guard=guard, compute=ComputeBound(logged.campaign_dir))
    return setup, recorded_base is None


def replay(campaign_dir: Path, cand: str, data_root: Path, seed: Optional[int] = None) -> ReplayResult:
    logged = load_logged(campaign_dir, cand)
    row = logged.row
    sandbox = local_sandbox()
    pull_logged_images(sandbox, logged)
    image = sandbox.images.image_info(row.image_id)
    reused = image is not None and image.labels.get("afr.surface-hash") == row.surface_hash
    replays = logged.campaign_dir / REPLAYS
    folder = replays / f"{cand}-{len(list(replays.glob(f'{cand}-*'))) + 1 if replays.is_dir() else 1}"
    setup, base_changed = rerun_setup(logged, f"replay-{logged.meta.name}-{cand}", folder, data_root, sandbox)
    with in_use(logged.campaign_dir):
        try:
            outcome = evaluate(setup, cand, Proposal(logged.snapshot, f"replay of {cand}: {row.description}",
                                                     "replay"), seed=row.seed if seed is None else seed)
        finally:
            sandbox.executor.remove_containers(setup.own_containers)
    return ReplayResult(candidate=cand, logged_score=row.score,
                        replay_score=outcome.score if outcome.status == Status.SCORED else None,
                        status=outcome.status, reason=outcome.reason, image_id=outcome.image_id,
                        image_reused=reused, folder=folder / "candidates" / cand, base_changed=base_changed)
