"""`afr-box replay`: rerun a logged candidate from its image and compare with the logged score.

The candidate's surface snapshot must still hash to the logged surface hash (an altered record
is refused). Its image is used when it still exists with matching labels; otherwise it is
rebuilt from the recorded base and the snapshot, and the rebuilt surface is verified like any
candidate's. The replay runs through the same sandbox and scorer, into
`runs/<campaign>/replays/<id>-<n>/`, and must reproduce the score exactly (CPU, same seed).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from afr_box.orchestrator.evaluate import Proposal, Setup, evaluate, surface_hash
from afr_box.orchestrator.records import read_json_or
from afr_box.orchestrator.runlog import Row, RunLog
from afr_box.policies.schema import Policy, load_policy
from afr_box.profiles.schema import Profile, load_profile
from afr_box.sandbox.docker_provider import DockerProvider
from afr_box.sandbox.errors import RegistryError, SandboxError
from afr_box.tasks.shared.hashing import sha256_file
from afr_box.sandbox.images import candidate_tag, find_base
from afr_box.sandbox.registry import pull


class ReplayError(SandboxError):
    """The candidate cannot be replayed as logged (unknown id, altered record, missing base)."""


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
    meta: dict
    row: Row
    snapshot: Path
    profile: Profile
    policy: Policy


def load_logged(campaign_dir: Path, cand: str) -> Logged:
    campaign_dir = Path(campaign_dir).resolve()
    meta = json.loads((campaign_dir / "campaign.json").read_text())
    rows = {r.candidate: r for r in RunLog(campaign_dir / "results.tsv").rows()}
    if cand not in rows:
        raise ReplayError(f"candidate {cand!r} is not in {campaign_dir / 'results.tsv'} (logged: {', '.join(sorted(rows))})")
    row = rows[cand]
    if row.score is None:
        raise ReplayError(f"candidate {cand} was logged as {row.status} without a score: nothing to compare")
    for name, key in (("profile.yaml", "profile_sha256"), ("policy.yaml", "policy_sha256")):
        if sha256_file(campaign_dir / name) != meta[key]:
            raise ReplayError(f"{campaign_dir / name} no longer matches its recorded sha256: the record was altered")
    snapshot = campaign_dir / row.artifacts / "surface"
    actual = surface_hash(snapshot)
    if actual != row.surface_hash:
        raise ReplayError(f"surface snapshot of {cand} hashes to {actual[:16]}, but {row.surface_hash[:16]} was logged: "
                          "hash mismatch, the snapshot was altered")
    return Logged(campaign_dir, meta, row, snapshot, load_profile(campaign_dir / "profile.yaml"),
                  load_policy(campaign_dir / "policy.yaml"))


def pull_logged_images(provider: DockerProvider, logged: Logged) -> None:
    """A cluster candidate whose images are not on this engine: pull them by their logged digests
    (each pulled id must equal the logged id), so the rerun uses the very images that were logged.
    Without a digest, or with the registry out of reach, the replay rebuilds as usual."""
    image_record = read_json_or(logged.campaign_dir / logged.row.artifacts / "image.json", {})
    wanted = [(logged.meta.get("base_repo_digest"), logged.meta["base_image_id"], None),
              (image_record.get("repo_digest"), logged.row.image_id,
               candidate_tag(logged.profile.task, logged.row.surface_hash))]
    for ref, image_id, tag in wanted:
        if not ref or provider.image_info(image_id) is not None:
            continue
        try:
            pulled = pull(provider.client, ref, image_id)
        except RegistryError:
            return
        if tag:  # the candidate tag is what the builder looks for before rebuilding
            pulled.tag(*tag.split(":", 1))


def rerun_setup(logged: Logged, name: str, folder: Path, data_root: Path, provider) -> tuple[Setup, bool]:
    """A Setup that reruns the logged candidate on its recorded base (or today's, if gone)."""
    recorded_base = provider.image_info(logged.meta["base_image_id"])
    setup = Setup(campaign=name[:60], campaign_dir=folder, profile=logged.profile, policy=logged.policy,
                  policy_hash=logged.meta["policy_sha256"],
                  data_dir=(Path(data_root) / logged.profile.task).resolve(), provider=provider,
                  base=recorded_base or find_base(provider))
    return setup, recorded_base is None


def replay(campaign_dir: Path, cand: str, data_root: Path, seed: Optional[int] = None) -> ReplayResult:
    logged = load_logged(campaign_dir, cand)
    row = logged.row
    provider = DockerProvider()
    pull_logged_images(provider, logged)
    image = provider.image_info(row.image_id)
    reused = image is not None and image.labels.get("afr.surface-hash") == row.surface_hash
    replays = logged.campaign_dir / "replays"
    folder = replays / f"{cand}-{len(list(replays.glob(f'{cand}-*'))) + 1 if replays.is_dir() else 1}"
    setup, base_changed = rerun_setup(logged, f"replay-{logged.meta['name']}-{cand}", folder, data_root, provider)
    try:
        outcome = evaluate(setup, cand, Proposal(logged.snapshot, f"replay of {cand}: {row.description}", "replay"),
                           seed=row.seed if seed is None else seed)
    finally:
        provider.remove_containers({"afr.campaign": setup.campaign})
    return ReplayResult(candidate=cand, logged_score=row.score,
                        replay_score=outcome.score if outcome.status == "scored" else None,
                        status=outcome.status, reason=outcome.reason, image_id=outcome.image_id,
                        image_reused=reused, folder=folder / "candidates" / cand, base_changed=base_changed)
