"""Raw-data sources for the data bridges (fixed code): checksum checks and downloads.

Bridges read benchmark files byte-identical to what FLamby / LEAF download; an md5 check
pins that, so a changed or truncated file fails loudly instead of silently shifting splits.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from afr_box.tasks.shared.errors import AfrError
from afr_box.tasks.shared.hashing import file_digest


class DataSourceError(AfrError, ValueError):
    """A raw data source is missing, unreachable or not the expected file."""


def verify_md5(path: Path, expected: str) -> str:
    """Return the md5 of `path`; raise DataSourceError if it is missing or differs."""
    path = Path(path)
    if not path.is_file():
        raise DataSourceError(
            f"missing data file {path.name} (looked for {path}); put the original "
            f"{path.name} there (md5 {expected}) or prepare with --download"
        )
    actual = file_digest(path, "md5")
    if actual != expected:
        raise DataSourceError(
            f"{path.name} has md5 {actual}, expected {expected}: the file is not the original "
            f"benchmark file (changed, truncated or another version); replace it with the "
            f"original or prepare with --download"
        )
    return actual


def download(url: str, dest: Path, timeout_s: float = 60.0) -> Path:
    """Fetch `url` to `dest` (written beside it, then renamed, so no partial file remains)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise DataSourceError(
            f"could not download {dest.name} from {url}: {exc}; check the network, "
            f"or fetch the file yourself and prepare with --source"
        ) from exc
    os.replace(partial, dest)
    return dest
