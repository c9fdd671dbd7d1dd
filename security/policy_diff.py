"""`afr-box policy diff A B`: what moving from policy A to policy B opens or closes."""
from __future__ import annotations

from typing import Any, Optional

from afr_box.orchestrator.gate.surface import resolve_surface
from afr_box.policies.schema import load_policy, size_bytes
from afr_box.profiles.schema import available_tasks

# For each limit: how to compare it, so that a change reads as "opens" (looser) or "closes".
_SIZES = {"memory", "tmpfs_size", "out_size"}
_NUMBERS = {"cpus", "pids_limit", "gpus", "nofile", "max_files", "max_file_bytes", "max_total_bytes"}


def _direction(key: str, old: Any, new: Any) -> str:
    if key in _SIZES:
        old, new = size_bytes(old), size_bytes(new)
    if key in _SIZES | _NUMBERS:
        return "opens" if new > old else "closes"
    if key == "runtime":  # runsc (gVisor) is the stronger isolation
        return "closes" if new == "runsc" else "opens"
    return "changes"


def diff(a_ref: str, b_ref: str, tasks: Optional[list[str]] = None) -> dict[str, Any]:
    a, b = load_policy(a_ref), load_policy(b_ref)
    out: dict[str, Any] = {"from": a.name, "to": b.name, "surface": {}, "limits": []}
    for task in tasks or available_tasks():
        fa, fb = set(resolve_surface(task, a)), set(resolve_surface(task, b))
        if fa != fb:
            out["surface"][task] = {"opens": sorted(fb - fa), "closes": sorted(fa - fb)}
    for section, old, new in (("limits", a.limits.model_dump(), b.limits.model_dump()),
                              ("container", a.container.model_dump(), b.container.model_dump())):
        for key in old:
            if old[key] != new[key]:
                out["limits"].append({"setting": f"{section}.{key}", "from": old[key], "to": new[key],
                                      "effect": _direction(key, old[key], new[key])})
    return out


def render(d: dict[str, Any]) -> str:
    lines = [f"Policy {d['from']} -> {d['to']}"]
    if not d["surface"] and not d["limits"]:
        return lines[0] + ": no difference in surface or limits"
    for task, change in d["surface"].items():
        for f in change["opens"]:
            lines.append(f"  opens   {task}: {f} becomes mutable")
        for f in change["closes"]:
            lines.append(f"  closes  {task}: {f} becomes fixed")
    for c in d["limits"]:
        lines.append(f"  {c['effect']:<7} {c['setting']}: {c['from']} -> {c['to']}")
    return "\n".join(lines)
