"""The local channels a candidate process gives up, on this host's real kernel: channel_filter's
seccomp filter (no Unix socket, UDP, other socket family, System V IPC, message queue or TCP
Fast Open send; TCP and socketpair stay) and Landlock's TCP rules (a client worker binds its own
port and connects to the server's only). The whole path runs in the sandbox in
test_security_e2e.py (attack sites-pool-over-local-channels)."""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest

from afr_box.sandbox.harness.channel_filter import FilterUnavailable, program
from afr_box.sandbox.harness.landlock import abi_version

PROBE = textwrap.dedent("""
    import ctypes, os, socket, subprocess, sys
    from afr_box.sandbox.harness.channel_filter import deny_local_channels
    deny_local_channels()
    def attempt(name, make):
        try:
            make()
            print(name, "ok")
        except OSError as exc:
            print(name, "refused" if exc.errno == 13 else f"errno {exc.errno}")
    def new(*args):
        socket.socket(*args).close()
    attempt("tcp", lambda: new(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC))
    attempt("tcp6", lambda: new(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP))
    attempt("socketpair", lambda: [end.close() for end in socket.socketpair()])
    attempt("unix", lambda: new(socket.AF_UNIX, socket.SOCK_STREAM))
    attempt("unix-dgram", lambda: new(socket.AF_UNIX, socket.SOCK_DGRAM))
    attempt("udp", lambda: new(socket.AF_INET, socket.SOCK_DGRAM))
    attempt("sctp", lambda: new(socket.AF_INET, socket.SOCK_STREAM, 132))
    attempt("netlink", lambda: new(socket.AF_NETLINK, socket.SOCK_RAW))
    def fast_open():
        with socket.socket() as s:
            s.sendto(b"x", socket.MSG_FASTOPEN, ("127.0.0.1", 9))
    attempt("fastopen", fast_open)
    libc = ctypes.CDLL(None, use_errno=True)
    for name, call in (("shmget", lambda: libc.shmget(0, 4096, 0o1600)), ("msgget", lambda: libc.msgget(0, 0o1600)),
                       ("semget", lambda: libc.semget(0, 1, 0o1600))):
        print(name, "refused" if call() == -1 and ctypes.get_errno() == 13 else "ok")
    child = subprocess.run([sys.executable, "-c", "import socket; socket.socket(socket.AF_UNIX)"],
                           capture_output=True, text=True)
    print("child", "refused" if "PermissionError" in child.stderr else "ok")
""")


def test_the_filter_leaves_tcp_and_socketpair_and_refuses_every_other_local_channel():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    results = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert results == {"tcp": "ok", "tcp6": "ok", "socketpair": "ok", "unix": "refused", "unix-dgram": "refused",
                       "udp": "refused", "sctp": "refused", "netlink": "refused", "fastopen": "refused",
                       "shmget": "refused", "msgget": "refused", "semget": "refused", "child": "refused"}


def test_an_architecture_without_syscall_numbers_here_is_refused_not_left_open():
    assert len(program("x86_64")) < 64 and len(program("aarch64")) < 64
    with pytest.raises(FilterUnavailable):
        program("riscv64")


@pytest.mark.skipif(abi_version() < 4, reason="Landlock TCP rules need ABI 4 (CI's kernel has 7)")
def test_landlock_lets_a_worker_bind_its_own_port_and_connect_to_the_servers_only():
    with socket.socket() as server, socket.socket() as other:
        for s in (server, other):
            s.bind(("127.0.0.1", 0))
            s.listen()
        code = textwrap.dedent(f"""
            import socket
            from pathlib import Path
            from afr_box.sandbox.harness.landlock import restrict
            restrict([Path("/")], [Path("/dev/null")], isolate=True, bind=[0], connect=[{server.getsockname()[1]}])
            def attempt(name, call):
                try:
                    call()
                    print(name, "ok")
                except PermissionError:
                    print(name, "refused")
            attempt("server", lambda: socket.create_connection(("127.0.0.1", {server.getsockname()[1]})).close())
            attempt("other", lambda: socket.create_connection(("127.0.0.1", {other.getsockname()[1]})).close())
            attempt("bind", lambda: socket.socket().bind(("127.0.0.1", {other.getsockname()[1] + 1})))
        """)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["server", "ok", "other", "refused", "bind", "refused"]
