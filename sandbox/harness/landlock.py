"""Landlock (Linux >= 5.13): a process gives up reading files outside the hierarchies it names.

An unprivileged, irreversible restriction that every descendant inherits (across fork and exec).
It is checked against the file's real location, so /proc/<pid>/root and /proc/<pid>/fd links
reach nothing beyond the rules (and a read-only bind mount cannot be hard-linked from /tmp); a
restricted process may not ptrace (or open the memory of) a process outside its own domain. Only reads are handled here: writes stay governed
by the container's own limits.
"""
from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path
from typing import Iterable

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same numbers on x86_64 and arm64
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
READ_FILE, READ_DIR = 1 << 2, 1 << 3


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
    libc = _libc()
    attr = ctypes.create_string_buffer(struct.pack("=Q", READ_FILE | READ_DIR))
    ruleset = libc.syscall(_CREATE_RULESET, attr, ctypes.c_size_t(8), ctypes.c_uint32(0))
    if ruleset < 0:
        err = ctypes.get_errno()
        raise LandlockUnavailable(err, f"landlock_create_ruleset: {os.strerror(err)}")
    try:
        _add(libc, ruleset, Path("/"), READ_DIR)
        for path in allowed:
            try:
                _add(libc, ruleset, path, READ_FILE | (READ_DIR if os.path.isdir(path) else 0))
            except FileNotFoundError:
                continue  # gone since it was listed
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0:
            err = ctypes.get_errno()
            raise LandlockUnavailable(err, f"no_new_privs: {os.strerror(err)}")
        if libc.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            err = ctypes.get_errno()
            raise LandlockUnavailable(err, f"landlock_restrict_self: {os.strerror(err)}")
    finally:
        os.close(ruleset)


def _add(libc, ruleset: int, path: Path, access: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = ctypes.create_string_buffer(struct.pack("=Qi", access, fd))
        if libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), rule, ctypes.c_uint32(0)) < 0:
            err = ctypes.get_errno()
            raise LandlockUnavailable(err, f"landlock_add_rule {path}: {os.strerror(err)}")
    finally:
        os.close(fd)
