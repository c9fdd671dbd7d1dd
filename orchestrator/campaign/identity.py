"""What a campaign is pinned to (campaign.json), and the check that a resumed one is the same.

A campaign started with one profile, policy, proposer (and sampler), seed, candidate cap, agent model and base
image is only comparable with itself: `--resume` and `afr-box try` refuse to go on after any of
these changed, and say what changed. The base is pinned by image id and by the sha256 of every
harness file in it, so a refusal names the files (`sandbox/images.harness_files`).
"""
from __future__ import annotations

from typing import Any, Optional

from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.records.models import CampaignMeta
from afr_box.sandbox.images import (HARNESS_API, TORCH_LABEL, TORCH_SOURCE_LABEL, harness_api, harness_changes,
                                    harness_files)
from afr_box.sandbox.provider import ImageInfo

# Settings a resumed campaign may take over from the command line only with --force.
OVERRIDABLE = ("proposer", "sampler", "seed", "max_candidates", "agent_model")


def base_pin(base: ImageInfo) -> dict[str, Any]:
    """campaign.json's fields that pin the base image (the harness files as they are now)."""
    torch = {k: base.labels[label] for k, label in (("torch", TORCH_LABEL), ("torch_source", TORCH_SOURCE_LABEL))
             if label in base.labels}
    return {"base_image_id": base.id, "harness_digest": base.labels.get("afr.harness", ""),
            "harness_files": harness_files(), "harness_api": harness_api(base) if base.labels else HARNESS_API,
            **torch}


def check_base(meta: CampaignMeta, base: ImageInfo, what: str) -> None:
    """Refuse to add candidates built on another base than the campaign's (mixed bases make rows
    incomparable); the message names the harness files that changed."""
    if base.id == meta.base_image_id:
        return
    changed = harness_changes(meta.harness_files, harness_files()) if meta.harness_files else []
    detail = (f"harness files changed since it started: {', '.join(changed[:8])}" + (" ..." if len(changed) > 8 else "")
              if changed else "the base image was rebuilt")
    raise CampaignError(f"cannot {what} {meta.name}: its base image {meta.base_image_id[:19]} is not this harness's "
                        f"{base.id[:19]} ({detail}); start a new campaign, or check out the afr-box version it "
                        f"started with and `afr-box image build`")


def check_same(meta: CampaignMeta, *, profile_sha256: str, policy: str, policy_sha256: str,
               settings: dict[str, Optional[Any]], force: bool) -> dict[str, Any]:
    """Compare a resumed campaign with what it started with. Profile and policy must match; a
    setting in `settings` (None = not given: take the campaign's) may differ only with `force`.
    Returns the settings to run with."""
    fixed = [(key, getattr(meta, key), value) for key, value in
             (("profile_sha256", profile_sha256), ("policy", policy), ("policy_sha256", policy_sha256))
             if getattr(meta, key) != value]
    if fixed:
        raise CampaignError(f"cannot resume {meta.name}: " + "; ".join(f"{k} changed since it started ({a} -> {b})"
                                                                      for k, a, b in fixed)
                            + "; give the --profile/--policy it started with, or start a new campaign")
    recorded = recorded_settings(meta)
    chosen = {k: recorded[k] if v is None else v for k, v in settings.items()}
    differs = [(k, recorded[k], v) for k, v in chosen.items() if v != recorded[k]]
    if differs and not force:
        raise CampaignError(f"cannot resume {meta.name}: " + "; ".join(f"{k} {a!r} -> {b!r}" for k, a, b in differs)
                            + " differ from what it started with; drop those options to continue as it started, "
                              "or add --force to continue with the new values")
    return chosen


def recorded_settings(meta: CampaignMeta) -> dict[str, Any]:
    return {"proposer": meta.proposer, "sampler": meta.sampler, "seed": meta.seed,
            "max_candidates": meta.max_candidates, "agent_model": (meta.agent or {}).get("model")}
