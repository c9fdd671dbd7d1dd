"""The live progress display of a campaign (candidate i/N, phase, best so far)."""
from __future__ import annotations

import time
from typing import Optional

from rich.console import Console
from rich.markup import escape

from afr_box.orchestrator.records.runlog import Row
from afr_box.orchestrator.records.status import FAILED, Status

STATUS_STYLE = {Status.KEEP: "green", Status.DISCARD: "white", Status.CRASH: "red", Status.REJECTED: "yellow",
                Status.VIOLATION: "bold red", Status.LITERATURE: "cyan"}


class CampaignDisplay:
    def __init__(self, quiet: bool = False, console: Optional[Console] = None):
        self.quiet = quiet
        self.console = console or Console(stderr=True)
        self.status = None
        self.total = 0
        self.running: dict[str, list[str]] = {}  # candidate -> [label, phase]
        self.started = 0.0

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def start(self, name: str, total: int, done: int) -> None:
        self.total, self.started = total, time.monotonic()
        self.note(f"[bold]campaign {name}[/]: {total} candidates ({done} already logged)")
        if not self.quiet:
            self.status = self.console.status("starting")
            self.status.start()

    def candidate(self, index: int, cand: str, description: str) -> None:
        self.running[cand] = [escape(f"[{index + 1}/{self.total}] {cand} {description[:60]}"), "propose"]
        self._refresh()

    def phase(self, phase: str, cand: str) -> None:
        if cand in self.running:
            self.running[cand][1] = phase
            self._refresh()

    def _refresh(self) -> None:
        if self.status is not None:
            self.status.update("\n".join(f"{label} — {phase}" for label, phase in self.running.values()) or "idle")

    def done(self, row: Row, best: Optional[Row]) -> None:
        self.running.pop(row.candidate, None)
        self._refresh()
        score = "-" if row.score is None else f"{row.score:.4f}"
        best_text = "-" if best is None or best.score is None else f"{best.score:.4f} ({best.candidate})"
        style = STATUS_STYLE.get(row.status, "white")
        reason = escape(f" — {row.reason[:120]}") if row.status in FAILED else ""
        self.note(f"{row.candidate} [{style}]{row.status:9}[/] score {score:>7}  {row.runtime_seconds:6.1f}s  "
                  f"best {best_text}  {escape(row.description[:60])}{reason}")

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
        if not self.quiet and self.started:
            self.note(f"wall time {time.monotonic() - self.started:.0f}s")
