"""Landlock (Linux >= 5.13): a process gives up reading files outside the hierarchies it names.

An unprivileged, irreversible restriction that every descendant inherits (across fork and exec).
It is checked against the file's real location, so /proc/<pid>/root and /proc/<pid>/fd links
reach nothing beyond the rules (and a read-only bind mount cannot be hard-linked from /tmp); a
restricted process may not ptrace (or open the memory of) a process outside its own domain.
`restrict_reads` handles reads only (writes stay governed by the container's own limits);
`restrict` also confines writes to named folders and, where the kernel can (ABI 4 and 6), takes
away TCP (but for named ports), signals to processes outside the domain and abstract Unix
sockets: what a process running candidate code beside trusted ones needs (a site's client worker,
preload.py; the aggregator worker, aggregator_worker.py). The other local channels (Unix sockets
at a path, UDP, System V IPC) are channel_filter.py's.
"""
from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path
from typing import Iterable, Optional

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same numbers on x86_64 and arm64
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38
READ_FILE, READ_DIR = 1 << 2, 1 << 3
# Writing: changing a file, and making, removing or re-parenting an entry (REFER: ABI 2; TRUNCATE: ABI 3).
WRITE_FILE, TRUNCATE, REFER = 1 << 1, 1 << 14, 1 << 13
MAKE_AND_REMOVE = sum(1 << bit for bit in range(4, 13))  # REMOVE_DIR .. MAKE_SYM
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class LandlockUnavailable(OSError):
    """The kernel (or the container's seccomp profile) offers no Landlock."""


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 when there is none."""
    version = _libc().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def restrict_reads(allowed: Iterable[Path]) -> None:
    """From now on this process (and all it starts) reads files only beneath `allowed`; it may
    still list every folder (names and sizes are visible to stat() anyway). Raises
    LandlockUnavailable when the kernel cannot enforce it: a caller that needs the restriction
    must not go on without it."""
    restrict(allowed)


def restrict(readable: Iterable[Path], writable: Optional[Iterable[Path]] = None, isolate: bool = False,
             bind: Iterable[int] = (), connect: Iterable[int] = ()) -> None:
    """restrict_reads(readable); with `writable`, writes (to files, and making or removing
    entries) only beneath those folders or to those files (/dev/null, say); with `isolate`, TCP
    only to bind the `bind` ports and to connect to the `connect` ports (none: no TCP at all)
    and, where the kernel scopes them (ABI 6), no signals to and no abstract Unix sockets of
    processes outside this domain. LandlockUnavailable when the kernel cannot enforce what was
    asked (an ABI without TCP rules cannot isolate)."""
    libc, abi = _libc(), abi_version()
    if abi < 1:
        raise LandlockUnavailable(0, "this kernel offers no Landlock")
    writes = (WRITE_FILE | MAKE_AND_REMOVE | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)) \
        if writable is not None else 0
    fs = READ_FILE | READ_DIR | writes
    net = NET_BIND_TCP | NET_CONNECT_TCP if isolate else 0
    scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if isolate and abi >= 6 else 0
    if isolate and abi < 4:
        raise LandlockUnavailable(0, f"Landlock ABI {abi} has no TCP rules (Linux 6.7 or later)")
    attr = struct.pack("=QQQ", fs, net, scoped)[: 24 if scoped else 16 if net else 8]
    buf = ctypes.create_string_buffer(attr)
    ruleset = libc.syscall(_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        err = ctypes.get_errno()
        raise LandlockUnavailable(err, f"landlock_create_ruleset: {os.strerror(err)}")
    try:
        _add(libc, ruleset, Path("/"), READ_DIR)
        for path in readable:
            try:
                _add(libc, ruleset, path, READ_FILE | (READ_DIR if os.path.isdir(path) else 0))
            except FileNotFoundError:
                continue  # gone since it was listed
        for path in writable or ():
            folder = os.path.isdir(path)
            # A file rule may carry file rights only: writing and truncating it, not making entries.
            rights = (writes if folder else writes & (WRITE_FILE | TRUNCATE)) | READ_FILE | (READ_DIR if folder else 0)
            _add(libc, ruleset, path, rights)
        ports = [(NET_BIND_TCP, port) for port in bind] + [(NET_CONNECT_TCP, port) for port in connect]
        for access, port in ports if isolate else ():
            _add_port(libc, ruleset, access, port)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0:
            err = ctypes.get_errno()
            raise LandlockUnavailable(err, f"no_new_privs: {os.strerror(err)}")
        if libc.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            err = ctypes.get_errno()
            raise LandlockUnavailable(err, f"landlock_restrict_self: {os.strerror(err)}")
    finally:
        os.close(ruleset)


def _add_port(libc, ruleset: int, access: int, port: int) -> None:
    rule = ctypes.create_string_buffer(struct.pack("=QQ", access, port))
    if libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_NET_PORT), rule, ctypes.c_uint32(0)) < 0:
        err = ctypes.get_errno()
        raise LandlockUnavailable(err, f"landlock_add_rule TCP port {port}: {os.strerror(err)}")


def _add(libc, ruleset: int, path: Path, access: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = ctypes.create_string_buffer(struct.pack("=Qi", access, fd))
        if libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), rule, ctypes.c_uint32(0)) < 0:
            err = ctypes.get_errno()
            raise LandlockUnavailable(err, f"landlock_add_rule {path}: {os.strerror(err)}")
    finally:
        os.close(fd)
