"""`afr-box du`: what campaigns, images, the build cache and the prepared data take on disk.

A candidate image shares every layer of its base: what it takes of its own is its size minus the
base's (a few KB of surface). Each base (one per harness version) takes its full size, about
1.6 GB with torch. "Prunable" is what `afr-box clean --keep-best 1` would free in a campaign.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from afr_box.orchestrator.campaign.cleanup import campaign_folders, idle_seconds, plan_prune, tree_size
from afr_box.orchestrator.records.owner import busy
from afr_box.sandbox.images import cache_dir
from afr_box.sandbox.provider import ImageStore


def disk_usage(runs_dir: Path, data_root: Path, images: ImageStore) -> dict[str, Any]:
    campaigns = []
    for folder in (campaign_folders(runs_dir) if Path(runs_dir).is_dir() else []):
        plan = plan_prune(folder, 1, None, force=True)
        campaigns.append({"name": folder.name, "path": str(folder.path), "bytes": tree_size(folder.path),
                          "prunable_bytes": plan.bytes, "in_use": busy(folder.path),
                          "idle_hours": round(idle_seconds(folder) / 3600, 1)})
    bases = images.list_images({"afr.kind": "base"})
    base_size = {b.id: b.size for b in bases}
    cands = images.list_images({"afr.kind": "candidate"})
    own = sum(max(c.size - base_size.get(c.labels.get("afr.base-id", ""), c.size), 0) for c in cands)
    data = {p.name: tree_size(p) for p in sorted(Path(data_root).iterdir())} if Path(data_root).is_dir() else {}
    cache = cache_dir()
    return {
        "runs_dir": str(runs_dir), "campaigns": campaigns, "campaigns_bytes": sum(c["bytes"] for c in campaigns),
        "prunable_bytes": sum(c["prunable_bytes"] for c in campaigns),
        "base_images": [{"tag": (b.tags or [""])[0], "id": b.id, "bytes": b.size,
                         "harness": b.labels.get("afr.harness", "")[:16]} for b in bases],
        "candidate_images": {"count": len(cands), "own_bytes": own,
                             "orphaned": sum(c.labels.get("afr.base-id") not in base_size for c in cands)},
        "cache": {"path": str(cache), "bytes": tree_size(cache)},
        "data": {"path": str(data_root), "bytes": sum(data.values()), "tasks": data},
    }


def _size(n: int) -> str:
    for unit, step in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} B"


def format_usage(u: dict[str, Any]) -> str:
    lines = [f"campaigns in {u['runs_dir']}: {_size(u['campaigns_bytes'])} "
             f"({_size(u['prunable_bytes'])} prunable: `afr-box clean --runs-dir {u['runs_dir']} --keep-best 1`)"]
    for c in sorted(u["campaigns"], key=lambda c: -c["bytes"]):
        state = "in use" if c["in_use"] else f"idle {c['idle_hours']} h"
        lines.append(f"  {c['name']:<40} {_size(c['bytes']):>9}  prunable {_size(c['prunable_bytes']):>9}  {state}")
    lines.append(f"base images: {len(u['base_images'])}, {_size(sum(b['bytes'] for b in u['base_images']))} "
                 "(one per harness version)")
    lines += [f"  {b['tag']:<40} {_size(b['bytes']):>9}" for b in u["base_images"]]
    ci = u["candidate_images"]
    lines.append(f"candidate images: {ci['count']}, {_size(ci['own_bytes'])} of their own (the rest is their base's)"
                 + (f"; {ci['orphaned']} on a base no longer here" if ci["orphaned"] else ""))
    lines.append(f"image-build cache {u['cache']['path']}: {_size(u['cache']['bytes'])}")
    lines.append(f"prepared data {u['data']['path']}: {_size(u['data']['bytes'])}")
    lines += [f"  {task:<40} {_size(n):>9}" for task, n in u["data"]["tasks"].items()]
    return "\n".join(lines)
