"""The progress bar of `afr-box data prepare` (rich): source files and bytes read, rate, ETA.

Bridges report through tasks/shared/progress.py; this is the CLI's way of showing it, on a
terminal only (pipes and CI logs get the final line alone)."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, Optional

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)

from afr_box.tasks.shared.progress import Reporter


class RichReporter(Reporter):
    """One bar over the bytes of the source files, its label counting the files."""

    def __init__(self, bar: Progress):
        self.bar = bar
        self.task: Optional[TaskID] = None
        self.what, self.files, self.files_done = "files", 0, 0

    def _label(self) -> str:
        return f"{self.what} {self.files_done}/{self.files}"

    def total(self, files: int, nbytes: int, what: str = "") -> None:
        self.what, self.files, self.files_done = what or "files", files, 0
        self.task = self.bar.add_task(self._label(), total=nbytes or None)

    def done(self, nbytes: int, files: int = 1) -> None:
        if self.task is not None:
            self.files_done += files
            self.bar.update(self.task, advance=nbytes, description=self._label())


@contextmanager
def progress_bar() -> Iterator[RichReporter]:
    console = Console(stderr=True)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True,
                   disable=not sys.stderr.isatty())
    with bar:
        yield RichReporter(bar)
