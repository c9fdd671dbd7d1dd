"""The campaign log: every module logs to `afr_box.*`; a campaign writes it to its campaign.log,
and `-v` also prints it to stderr."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = "afr_box"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def verbose(enabled: bool) -> None:
    """`-v`: log lines to stderr too (the campaign log is written either way)."""
    root = logging.getLogger(ROOT)
    root.setLevel(logging.DEBUG)
    if enabled and not any(getattr(h, "_afr_console", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._afr_console = True
        root.addHandler(handler)


@contextmanager
def campaign_log(path: Path) -> Iterator[None]:
    """Append the `afr_box` log to `path` (INFO and up) while the block runs."""
    root = logging.getLogger(ROOT)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
