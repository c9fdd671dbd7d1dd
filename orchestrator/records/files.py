"""Writing records: durable, atomic replacement (a kill -9 at any moment leaves the old or the new
file), JSON in one format, reading back with a default for what a dead container never wrote."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories can't be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> Path:
    """Whole new content -> temp file in the same folder -> fsync -> os.replace -> fsync dir."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    # Same folder as the target: os.replace is only atomic within one filesystem.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; keep artifacts readable like any other.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)
    return path


def write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def read_json_or(path: Path, default: Any, max_bytes: int = 0) -> Any:
    """A record file that may be missing or unreadable (a container that died early); with
    `max_bytes`, one larger than that is `default` too (a file from /out, which candidate code
    can write: it is never parsed whole into memory)."""
    try:
        if max_bytes and os.stat(path).st_size > max_bytes:
            return default
        return read_json(path)
    except (OSError, ValueError):
        return default
