"""A seccomp filter that leaves a process TCP as the only channel it can open to another process.

Landlock (landlock.py) decides which files a process reads and writes and which TCP ports it may
bind and connect to. It does not mediate the other ways two processes in one container can reach
each other: a Unix socket at a path (connect() is not a file access), UDP on the loopback,
System V shared memory, queues and semaphores (one IPC namespace per container), POSIX message
queues. A candidate process in the training container (job.py's export, each site's client
worker, the aggregator worker) gets this filter before any candidate code runs, so that it opens
none of them:

- socket(): only AF_INET/AF_INET6 with SOCK_STREAM and protocol 0 or TCP (not SCTP or MPTCP,
  which Landlock's TCP rules do not cover); every other family (Unix, netlink, packet) and type
  (datagram, raw, seqpacket) fails with EACCES. socketpair() stays: its two ends are unnamed,
  reachable only by the process and what it starts.
- sendto()/sendmsg()/sendmmsg() with MSG_FASTOPEN fail: a TCP Fast Open send connects without connect().
- shmget, msgget, semget and mq_open fail with EACCES.
- on x86_64, the x32 syscall numbers fail, so none of this is reached through them.

A few dozen BPF instructions through prctl(): the same ctypes route as landlock.py, with no library in
the image for it. Like Landlock it is inherited across fork and exec and cannot be removed.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import struct

_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
# BPF opcodes: load word at absolute offset, jump if equal / if set / if greater-or-equal, ALU and, return.
_LD, _JEQ, _JSET, _JGE, _AND, _RET = 0x20, 0x15, 0x45, 0x35, 0x54, 0x06
_MSG_FASTOPEN = 0x20000000
_SOCK_TYPE_MASK = 0xF
# (audit arch, syscall numbers, x32 bit): seccomp_data is nr (0), arch (4), ip (8), args[6] (16..).
_ARCHES = {
    "x86_64": (0xC000003E, {"socket": 41, "sendto": 44, "sendmsg": 46, "sendmmsg": 307, "shmget": 29, "semget": 64,
                            "msgget": 68, "mq_open": 240}, 0x40000000),
    "aarch64": (0xC00000B7, {"socket": 198, "sendto": 206, "sendmsg": 211, "sendmmsg": 269, "shmget": 194,
                             "semget": 190, "msgget": 186, "mq_open": 180}, None),
}
_ARCHES["arm64"] = _ARCHES["aarch64"]


class FilterUnavailable(OSError):
    """This machine's architecture or kernel cannot take the filter."""


def _arg(n: int) -> int:
    return 16 + 8 * n  # the low 32 bits of argument n (little-endian)


def program(machine: str) -> list[tuple[int, int, int, int]]:
    """The filter's instructions (code, jump-if-true, jump-if-false, k) for `machine`."""
    if machine not in _ARCHES:
        raise FilterUnavailable(0, f"no channel filter for {machine}")
    arch, nr, x32 = _ARCHES[machine]
    deny = _RET_ERRNO | errno.EACCES
    # Jumps are relative (to the next instruction); the blocks' offsets are computed below.
    ops: list[tuple[int, int, int, int]] = [
        (_LD, 0, 0, 4),                       # 0  arch
        (_JEQ, 1, 0, arch),                   # 1  ours: on to 3
        (_RET, 0, 0, deny),                   # 2  another ABI's syscall table
        (_LD, 0, 0, 0),                       # 3  nr
    ]
    if x32 is not None:
        ops += [(_JGE, 0, 1, x32), (_RET, 0, 0, deny)]  # the x32 numbers
    head = len(ops)
    checks = [("shmget", "deny"), ("semget", "deny"), ("msgget", "deny"), ("mq_open", "deny"),
              ("socket", "socket"), ("sendto", "flags3"), ("sendmmsg", "flags3"), ("sendmsg", "flags2")]
    # After the checks: [allow], [deny], socket block, flags3 block, flags2 block.
    allow_at = head + len(checks)
    deny_at = allow_at + 1
    socket_at = deny_at + 1
    socket_block = [
        (_LD, 0, 0, _arg(0)),                            # family
        (_JEQ, 1, 0, socket.AF_INET),
        (_JEQ, 0, 6, socket.AF_INET6),                   # neither: deny
        (_LD, 0, 0, _arg(1)),                            # type, without SOCK_NONBLOCK/SOCK_CLOEXEC
        (_AND, 0, 0, _SOCK_TYPE_MASK),
        (_JEQ, 0, 3, socket.SOCK_STREAM),                # not a stream: deny
        (_LD, 0, 0, _arg(2)),                            # protocol
        (_JEQ, 2, 0, 0),                                 # 0: allow
        (_JEQ, 1, 0, socket.IPPROTO_TCP),                # TCP: allow
        (_RET, 0, 0, deny),
        (_RET, 0, 0, _RET_ALLOW),
    ]
    flags3_at = socket_at + len(socket_block)

    def flags_block(n: int) -> list[tuple[int, int, int, int]]:  # argument n holds MSG_FASTOPEN: deny
        return [(_LD, 0, 0, _arg(n)), (_JSET, 0, 1, _MSG_FASTOPEN), (_RET, 0, 0, deny), (_RET, 0, 0, _RET_ALLOW)]

    flags2_at = flags3_at + len(flags_block(3))
    targets = {"deny": deny_at, "socket": socket_at, "flags3": flags3_at, "flags2": flags2_at}
    for i, (name, target) in enumerate(checks):
        at = head + i
        ops.append((_JEQ, targets[target] - at - 1, 0, nr[name]))
    ops += [(_RET, 0, 0, _RET_ALLOW), (_RET, 0, 0, deny)]
    ops += socket_block + flags_block(3) + flags_block(2)
    return ops


def deny_local_channels() -> None:
    """Install the filter on this process (and all it starts); FilterUnavailable when it cannot
    be: a caller that needs it must not go on without it."""
    ops = program(platform.machine())
    raw = b"".join(struct.pack("=HBBI", *op) for op in ops)
    buf = ctypes.create_string_buffer(raw)

    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = _Prog(len(ops), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0:
        err = ctypes.get_errno()
        raise FilterUnavailable(err, f"no_new_privs: {os.strerror(err)}")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) < 0:
        err = ctypes.get_errno()
        raise FilterUnavailable(err, f"seccomp filter: {os.strerror(err)}")
