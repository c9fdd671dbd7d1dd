"""An image's own top layer: read from overlay2 storage, or taken out of an image save stream
(for bundles) without unpacking the rest."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Optional


class _Stream(io.RawIOBase):
    """A file-like view of a byte-chunk iterator (the engine's image save stream)."""

    def __init__(self, chunks):
        self.chunks, self.buffer = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self.buffer:
            try:
                self.buffer = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self.buffer))
        b[:n], self.buffer = self.buffer[:n], self.buffer[n:]
        return n


def top_layer_from_save(chunks, diff_id: str, dest: Path, max_bytes: int = 64 * 1024 ** 2) -> bool:
    """Find, in an image save stream, the layer tar whose sha256 is `diff_id` (small layers only:
    base layers are skipped unread) and write it to `dest`."""
    want = diff_id.removeprefix("sha256:")
    with tarfile.open(fileobj=io.BufferedReader(_Stream(chunks), 1 << 20), mode="r|") as tar:
        for member in tar:
            if not member.isfile() or member.size > max_bytes:
                continue
            data = tar.extractfile(member).read()
            if hashlib.sha256(data).hexdigest() == want:
                dest.write_bytes(data)
                return True
    return False


def readable_upper_dir(attrs: dict) -> Optional[str]:
    """The overlay2 upper directory of an image or container (its own layer), if this process
    can read it (root on the engine host); None otherwise."""
    upper = (attrs.get("GraphDriver") or {}).get("Data", {}).get("UpperDir")
    return upper if upper and os.access(upper, os.R_OK | os.X_OK) else None
