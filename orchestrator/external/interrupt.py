"""SIGTERM and SIGINT during `afr-box try`: stop, and leave nothing running.

A coding agent's shell tool stops a long command (Claude Code's after 2 minutes by default) with a
signal. Python's default SIGTERM ends the process at once, skipping every `finally`: the
candidate's container would live on. Inside `interruptible()` both signals raise `Interrupted`
instead, so the executor removes its container and `try` removes every container of the campaign
on its way out. `Interrupted` is a BaseException: no `except Exception` on the way swallows it.
While a row is being logged (`deferred()`), a signal waits until the row is complete.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    deferring = False
    pending: int = 0


_state = _State()


def _handler(signum, _frame) -> None:
    if _state.deferring:
        _state.pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM/SIGINT raise `Interrupted` inside the block (main thread only: a server thread
    running `try` for a jailed agent has no signals of its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """A signal that arrives inside the block is raised when it ends (a row is logged whole)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.deferring, _state.pending = True, 0
    try:
        yield
    finally:
        _state.deferring = False
        if _state.pending:
            raise Interrupted(_state.pending)
