"""What afr-box leaves behind, and removing it without touching what is in use (`afr-box clean`, `du`).

- Containers: every one carries `afr.owner` (host:pid:start of the process that runs it). Those
  of a process still alive on this host belong to a running campaign and stay unless `force`;
  so does a running container whose owner cannot be told (no label: an older afr-box; another host).
- Campaign folders: every candidate keeps its model, predictions and logs, and replays, repeats
  and held-out reruns keep full records. `prune` keeps, per campaign, the baseline and the
  `keep_best` best scored candidates whole and removes those heavy outputs of the others and of
  every rerun copy (replays, repeats, held-out; their records, scores, surfaces and the run log
  stay: audit and replay still work), optionally only
  in campaigns idle for `older_than_s`. A folder in use (records/owner.py) is never pruned
  without `force`. What was removed is listed in `pruned.json`.
- Candidate images of pruned candidates go too (with `images`) when no kept record under the
  runs folder uses them; an image a container uses is never removed.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.records.files import read_json_or, write_json
from afr_box.orchestrator.records.layout import (CANDIDATES, HELDOUT, LOG, PRUNED, REPEATS, REPLAYS, RESULTS,
                                                 CampaignFolder)
from afr_box.orchestrator.records.owner import busy, owner_alive
from afr_box.orchestrator.records.runlog import RunLog, baseline_row, utc_now
from afr_box.orchestrator.records.status import Status
from afr_box.profiles.schema import load_profile
from afr_box.sandbox.provider import Executor, ImageStore

# What a pruned candidate record loses (relative to its folder): the bulk, none of the evidence.
HEAVY = ("train/model.npz", "infer/predictions", "train.log", "infer.log", "score.log")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """'30m', '12h', '7d', '2w' -> seconds."""
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in UNITS or not text[:-1].replace(".", "", 1).isdigit():
        raise CampaignError(f"--older-than {text!r}: expected a number and a unit, e.g. 30m, 12h, 7d or 2w")
    return float(text[:-1]) * UNITS[text[-1]]


def tree_size(path: Path) -> int:
    """Bytes under `path` (links not followed)."""
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# Containers.

def split_containers(executor: Executor, labels: dict, force: bool) -> tuple[list[dict], list[dict]]:
    """(leftovers to remove, containers of running campaigns kept) among those carrying `labels`."""
    remove, running = [], []
    for c in executor.containers(labels):
        # Unknown owner (an older afr-box, another host): a running container may be in use; keep it.
        alive = owner_alive(c["afr.owner"]) if "afr.owner" in c else None
        in_use = alive is True or (alive is None and c.get("running") == "True")
        (running if in_use and not force else remove).append(c)
    return remove, running


def remove_leftovers(executor: Executor, labels: dict, force: bool) -> tuple[int, list[dict]]:
    remove, running = split_containers(executor, labels, force)
    return executor.remove_container_ids([c["id"] for c in remove]), running


# Campaign folders.

def campaign_folders(runs_dir: Path) -> list[CampaignFolder]:
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise CampaignError(f"no runs folder at {runs_dir} (give --runs-dir)")
    return [CampaignFolder(p) for p in sorted(runs_dir.iterdir()) if CampaignFolder(p).is_campaign()]


def idle_seconds(folder: CampaignFolder, now: Optional[float] = None) -> float:
    """Seconds since the campaign last wrote its log, run log or records."""
    stamps = [p.stat().st_mtime for p in (folder.meta, folder / RESULTS, folder / LOG, folder / REPEATS,
                                          folder / HELDOUT) if p.exists()]
    return (now or time.time()) - max(stamps)


def kept_candidates(folder: CampaignFolder, keep_best: int) -> list[str]:
    """The baseline and the `keep_best` best scored candidates (by the campaign's metric direction)."""
    rows = RunLog(folder.results).rows()
    higher = load_profile(folder.profile).metric.higher_is_better
    scored = sorted((r for r in rows if r.scored and r.status in (Status.KEEP, Status.DISCARD)),
                    key=lambda r: r.score, reverse=higher)
    base = baseline_row(rows)
    return list(dict.fromkeys(([base.candidate] if base else []) + [r.candidate for r in scored[:keep_best]]))


def _records(folder: CampaignFolder) -> list[tuple[str, Path]]:
    """(candidate id, record folder) of every candidate and rerun record in the campaign folder."""
    found = [(p.name, p) for p in sorted((folder / CANDIDATES).glob("*")) if p.is_dir()]
    for sub in (REPLAYS, "repeats", "heldout"):
        for rec in sorted((folder / sub).glob(f"**/{CANDIDATES}/*")):
            if rec.is_dir():
                found.append((rec.name.split("-")[0], rec))
    return found


@dataclass
class PrunePlan:
    folder: CampaignFolder
    kept: list[str]
    files: list[Path] = field(default_factory=list)  # heavy outputs to remove
    bytes: int = 0
    images_pruned: set[str] = field(default_factory=set)  # image ids of the pruned records
    images_kept: set[str] = field(default_factory=set)    # image ids of the kept ones
    skipped: str = ""                                     # why this folder is left alone


def _image_id(record: Path) -> str:
    return (read_json_or(record / "image.json", {}) or {}).get("id", "")


def plan_prune(folder: CampaignFolder, keep_best: int, older_than_s: Optional[float], force: bool) -> PrunePlan:
    plan = PrunePlan(folder, kept_candidates(folder, keep_best))
    if busy(folder.path) and not force:
        plan.skipped = "in use now (a campaign, try, repeat or replay is writing there; --force prunes it anyway)"
        return plan
    if older_than_s is not None and idle_seconds(folder) < older_than_s:
        plan.skipped = f"active {idle_seconds(folder) / 3600:.1f} h ago"
        return plan
    for cand, record in _records(folder):
        image = _image_id(record)
        is_kept = cand in plan.kept and record.parent.parent == folder.path
        (plan.images_kept if is_kept or cand in plan.kept else plan.images_pruned).add(image)
        if is_kept:
            continue
        for rel in HEAVY:
            path = record / rel
            if path.exists():
                plan.files.append(path)
                plan.bytes += tree_size(path)
    plan.images_pruned -= plan.images_kept | {""}
    return plan


def prune(plan: PrunePlan) -> None:
    for path in plan.files:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)
    history = read_json_or(plan.folder / PRUNED, [])
    history.append({"at": utc_now(), "kept": plan.kept, "bytes": plan.bytes,
                    "removed": [str(p.relative_to(plan.folder.path)) for p in plan.files]})
    write_json(plan.folder / PRUNED, history)


def remove_images(images: ImageStore, wanted: set[str], needed: set[str]) -> tuple[int, int]:
    """Remove the candidate images in `wanted` that no kept record needs; (removed, left in use)."""
    removed = left = 0
    for image_id in sorted(wanted - needed):
        info = images.image_info(image_id)
        if info is None or info.labels.get("afr.kind") != "candidate":
            continue  # gone already, or not a candidate image (never a base)
        if images.remove_image(image_id):
            removed += 1
        else:
            left += 1
    return removed, left


def campaign_images(folder: CampaignFolder) -> set[str]:
    return {i for _, rec in _records(folder) if (i := _image_id(rec))}
