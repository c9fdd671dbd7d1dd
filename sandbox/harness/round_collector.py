"""The trusted round-metrics collector: an NVFlare server component the runner adds to every
exported job (runner.check_job), so each candidate's run records the same thing the same way.

It reads only what NVFlare already passes: each accepted client reply's metrics
(AFTER_CONTRIBUTION_ACCEPT, with the client's name and the round) and the aggregate result's
metrics (AFTER_AGGREGATION), and rewrites its file after every round, so a run that dies
mid-way keeps the rounds it finished. What it writes always obeys round_metrics.py (finite
numbers or null, bounded names and counts). The server runs no candidate code (server_config.py),
so which sites took part in which round is the trusted record the scorer holds against the budget;
the runner checks the file all the same.
"""
from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path
from typing import Any, Optional

from nvflare.apis.dxo import DataKind, from_shareable
from nvflare.apis.event_type import EventType
from nvflare.apis.fl_component import FLComponent
from nvflare.apis.fl_context import FLContext
from nvflare.app_common.abstract.fl_model import MetaKey
from nvflare.app_common.app_constant import AppConstants
from nvflare.app_common.app_event_type import AppEventType

from afr_box.sandbox.harness.round_metrics import MAX_CLIENTS, MAX_METRICS, MAX_NAME, MAX_ROUNDS, NAME_CHARS


def _name_ok(name: Any) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME and set(name) <= NAME_CHARS


class RoundMetricsCollector(FLComponent):
    def __init__(self, file: str):
        super().__init__()
        # Same-name attribute: NVFlare's job config serialises constructor args. (Not `path`: NVFlare's
        # class allow-list reads an argument named so as a class path.)
        self.file = file
        self._rounds: dict[int, dict[str, Any]] = {}
        self._dropped = 0

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        try:
            if event_type == AppEventType.AFTER_CONTRIBUTION_ACCEPT:
                self._contribution(fl_ctx)
            elif event_type == AppEventType.AFTER_AGGREGATION:
                self._aggregate(fl_ctx)
                self._write()
            elif event_type == EventType.END_RUN:
                self._write()
        except Exception as exc:  # a diagnostic must never fail the run it watches
            self.log_warning(fl_ctx, f"round metrics not recorded: {type(exc).__name__}: {exc}", fire_event=False)

    def _entry(self, fl_ctx: FLContext) -> Optional[dict[str, Any]]:
        current = fl_ctx.get_prop(AppConstants.CURRENT_ROUND)
        if not isinstance(current, int) or not 0 <= current < MAX_ROUNDS:
            return None
        return self._rounds.setdefault(current, {"round": current, "clients": {}, "aggregate": {}, "nonfinite": []})

    def _contribution(self, fl_ctx: FLContext) -> None:
        if not fl_ctx.get_prop(AppConstants.AGGREGATION_ACCEPTED):
            return
        result, entry, peer = fl_ctx.get_prop(AppConstants.TRAINING_RESULT), self._entry(fl_ctx), fl_ctx.get_peer_context()
        site = peer.get_identity_name() if peer is not None else None
        if result is None or entry is None or not _name_ok(site):
            return
        if site not in entry["clients"] and len(entry["clients"]) >= MAX_CLIENTS:
            self._dropped += 1
            return
        dxo = from_shareable(result)
        metrics = dxo.data if dxo.data_kind == DataKind.METRICS else (dxo.meta or {}).get(MetaKey.INITIAL_METRICS)
        entry["clients"][site] = self._clean(metrics, site, entry["nonfinite"])

    def _aggregate(self, fl_ctx: FLContext) -> None:
        entry, result = self._entry(fl_ctx), fl_ctx.get_prop(AppConstants.AGGREGATION_RESULT)
        if entry is not None and result is not None:
            entry["aggregate"] = self._clean(getattr(result, "metrics", None), "aggregate", entry["nonfinite"])

    def _clean(self, metrics: Any, who: str, nonfinite: list[str]) -> dict[str, Optional[float]]:
        """Numbers only, at most MAX_METRICS names (sorted, so which ones is deterministic);
        NaN and infinities become null and are named in `nonfinite`."""
        if not isinstance(metrics, dict):
            return {}
        out: dict[str, Optional[float]] = {}
        for name in sorted((k for k in metrics if isinstance(k, str)), key=str)[: 4 * MAX_METRICS]:
            value = metrics[name]
            if not _name_ok(name) or isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or len(out) >= MAX_METRICS:
                self._dropped += 1
                continue
            value = float(value)
            if math.isfinite(value):
                out[name] = value
            else:
                out[name] = None
                nonfinite.append(f"{who}/{name}")
        self._dropped += max(0, len(metrics) - 4 * MAX_METRICS)
        return out

    def _write(self) -> None:
        data = {"rounds": [self._rounds[r] for r in sorted(self._rounds)], "dropped": self._dropped}
        tmp = Path(f"{self.file}.tmp")
        tmp.write_text(json.dumps(data, allow_nan=False, sort_keys=True))
        os.replace(tmp, self.file)
