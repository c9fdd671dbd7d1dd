"""`afr-box check`: the gate's verdict on the workspace, check by check, with nothing built or run.

The surface is copied the way `try` copies it (snapshot.py) and gated with `keep_going`, so one
answer names every problem (a syntax error, a contract break and a file outside the policy at
once); the gate a `try` runs is the same, stopping at the first.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

from afr_box.orchestrator.external.snapshot import Snapshot, snapshot_surface
from afr_box.orchestrator.external.workspace import Workspace
from afr_box.orchestrator.gate.checks import GATE_CHECKS, GateResult, gate_snapshot
from afr_box.orchestrator.gate.surface import surface_hash


def check_workspace(ws: Workspace, take: Optional[Callable[[Path], Snapshot]] = None) -> dict[str, Any]:
    """The verdict of every gate check on the workspace's surface (or on the snapshot `take` makes)."""
    profile, policy, _ = ws.profile_policy()
    with tempfile.TemporaryDirectory(prefix="afr-check-") as tmp:
        dest = Path(tmp) / "surface"
        snapshot = take(dest) if take else snapshot_surface(ws.surface, dest)
        if snapshot.refused:
            name, detail = snapshot.refused
            result = GateResult(ok=False, reason=f"{name}: {detail}", checks=[(name, False, detail)],
                                skipped=[(n, "not run: the snapshot could not be taken") for n in GATE_CHECKS
                                         if n != name])
        else:
            result = gate_snapshot(snapshot.folder, profile.task, policy, profile, keep_going=True)
        digest = surface_hash(snapshot.folder) if result.ok else ""
        shutil.rmtree(tmp, ignore_errors=True)
    return {"ok": result.ok, "policy": policy.name, "task": profile.task, "surface_hash": digest,
            "checks": [{"check": n, "verdict": "pass" if p else "FAIL", "detail": d} for n, p, d in result.checks]
            + [{"check": n, "verdict": "skipped", "detail": d} for n, d in result.skipped]}


def check_text(verdict: dict[str, Any]) -> str:
    order = list(GATE_CHECKS)
    lines = [f"{c['verdict']:7} {c['check']}: {c['detail']}"
             for c in sorted(verdict["checks"], key=lambda c: order.index(c["check"]))]
    tail = (f"the gate passes (policy {verdict['policy']}; surface {verdict['surface_hash'][:12]}); "
            f"nothing was built" if verdict["ok"] else
            f"the gate refuses this surface: a `try` now would be a rejected row (nothing was built)")
    return "\n".join(lines + [tail])
