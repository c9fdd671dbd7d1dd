"""The channel's wire format: one request, a stream of progress lines, one answer.

    request   {"verb": ..., "args": {...}, "snapshot_bytes": N}\n   then N bytes: a tar of surface/
    answer    {"progress": "..."}\n ...   then   {"exit": 0, "out": "...", "err": "..."}\n

Both ends use this module: the jail's `afr-box` (client.py) and the host's channel server
(orchestrator/external/serve.py). The host trusts nothing in a request: the header and the tar
are bounded, the tar is unpacked member by member (regular files and directories only, clean
relative names, no member written through a link) into a folder of the host's own, and the
gate then checks it like any other snapshot. Standard library only: this file runs in the jail.
"""
from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from typing import Any, BinaryIO, Optional

VERBS = ("try", "smoke", "check", "status", "literature")
SNAPSHOT_VERBS = ("try", "smoke", "check")
MAX_HEADER_BYTES = 64 * 1024
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 4096
MAX_DEPTH = 16
SOCKET_DIR = "/run/afr"
CHANNEL_SOCKET = "channel.sock"
EGRESS_SOCKET = "egress.sock"


class ChannelError(Exception):
    """A request or an answer that does not follow the wire format (the message says how)."""


# --------------------------------------------------------------------------- framing


def send_line(stream: BinaryIO, data: dict[str, Any]) -> None:
    stream.write(json.dumps(data, sort_keys=True).encode("utf-8") + b"\n")
    stream.flush()


def read_line(stream: BinaryIO, limit: int = MAX_HEADER_BYTES) -> Optional[dict[str, Any]]:
    """One JSON object on one line; None at the end of the stream."""
    line = stream.readline(limit + 1)
    if not line:
        return None
    if len(line) > limit or not line.endswith(b"\n"):
        raise ChannelError(f"a line longer than {limit} bytes")
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ChannelError(f"not a JSON line ({exc})") from None
    if not isinstance(data, dict):
        raise ChannelError("a line must be a JSON object")
    return data


def read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = stream.read(min(left, 1 << 16))
        if not chunk:
            raise ChannelError(f"the stream ended {left} bytes before the announced snapshot did")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_request(stream: BinaryIO) -> tuple[str, dict[str, Any], bytes]:
    """(verb, args, snapshot tar) of one request; ChannelError for anything else."""
    head = read_line(stream)
    if head is None:
        raise ChannelError("empty request")
    verb, args, size = head.get("verb"), head.get("args", {}), head.get("snapshot_bytes", 0)
    if verb not in VERBS:
        raise ChannelError(f"unknown verb {verb!r}: the channel accepts only {', '.join(VERBS)}")
    if not isinstance(args, dict):
        raise ChannelError("args must be a JSON object")
    if type(size) is not int or not 0 <= size <= MAX_SNAPSHOT_BYTES:
        raise ChannelError(f"snapshot_bytes must be an integer in [0, {MAX_SNAPSHOT_BYTES}]")
    if (size > 0) != (verb in SNAPSHOT_VERBS):
        raise ChannelError(f"{verb} {'needs' if verb in SNAPSHOT_VERBS else 'takes no'} snapshot")
    return verb, args, read_exact(stream, size)


# --------------------------------------------------------------------------- the snapshot tar


def pack_tree(root: str) -> bytes:
    """A tar of the tree at `root`, links and special files kept as what they are (never followed),
    so the host refuses them with the gate's words rather than this end hiding them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = os.path.join(folder, name)
                tar.add(path, arcname=os.path.relpath(path, root), recursive=False)
    return buffer.getvalue()


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.isfifo():
        return "fifo"
    if member.ischr():
        return "character device"
    if member.isblk():
        return "block device"
    return "special file"


def _name_problem(name: str) -> Optional[str]:
    if not name or name.startswith("/") or "\\" in name:
        return "not a clean relative path"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a path component is empty, '.' or '..'"
    if len(parts) > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH}"
    return None


def unpack_tree(data: bytes, dest: str) -> Optional[str]:
    """Unpack the tar `data` into the new folder `dest`; the reason it is refused, or None.

    Only regular files and directories are written, each by its own validated name, files with
    O_EXCL | O_NOFOLLOW (nothing of the request can make the host write through a link)."""
    os.mkdir(dest, 0o755)
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    except tarfile.TarError as exc:
        return f"not a tar stream ({exc})"
    count, written = 0, 0
    with tar:
        while True:
            try:
                member = tar.next()
            except tarfile.TarError as exc:
                return f"a malformed tar stream ({exc})"
            if member is None:
                return None
            count += 1
            if count > MAX_MEMBERS:
                return f"more than {MAX_MEMBERS} entries in the snapshot"
            name = member.name.rstrip("/") if member.isdir() else member.name
            why = _name_problem(name)
            if why:
                return f"{name!r}: {why}"
            if not (member.isreg() or member.isdir()):
                return f"{name!r}: is a {_kind(member)}; only regular files and directories are accepted"
            target = os.path.join(dest, *name.split("/"))
            try:
                os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
                if member.isdir():
                    os.makedirs(target, 0o755, exist_ok=True)
                    continue
                written += member.size
                if written > MAX_SNAPSHOT_BYTES:
                    return f"more than {MAX_SNAPSHOT_BYTES} bytes in the snapshot"
                source = tar.extractfile(member)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                with os.fdopen(fd, "wb") as out:
                    out.write(source.read() if source else b"")
            except FileExistsError:
                return f"{name!r}: appears twice in the snapshot"
            except OSError as exc:
                return f"{name!r}: cannot be unpacked ({exc.strerror})"
            if not stat.S_ISREG(os.lstat(target).st_mode):
                return f"{name!r}: did not unpack as a regular file"
