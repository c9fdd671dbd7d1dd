"""How a data bridge tells how far it got (fixed code): a context-local reporter, so bridges need
no extra argument and the CLI decides how it is shown (`afr-box data prepare`: a rich progress
bar with files, bytes, rate and ETA). Without a reporter installed, reports go nowhere.

    with reporting(MyReporter()):
        bridge.prepare(...)            # inside: progress().total(files, nbytes); progress().done(nbytes)
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator


class Reporter:
    """What a bridge reports: the source files and bytes it will read, then each one read."""

    def total(self, files: int, nbytes: int, what: str = "") -> None:
        pass

    def done(self, nbytes: int, files: int = 1) -> None:
        pass


_current: contextvars.ContextVar[Reporter] = contextvars.ContextVar("afr_prepare_progress", default=Reporter())


def progress() -> Reporter:
    return _current.get()


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)
