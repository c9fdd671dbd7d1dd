# ATTACK fill-out: fill the host's disk through the one writable mount.
import time as _time

_chunk = b"\1" * (16 * 1024 * 1024)
_errors = []
for _i in range(8):
    try:
        with open(f"/out/fill-{_i}.bin", "wb") as _f:
            while True:
                _f.write(_chunk)
    except OSError as _exc:
        _errors.append(str(_exc))
    _time.sleep(1.5)  # give a quota watcher the chance to see it
raise SystemExit(f"ATTACK fill-out blocked: {_errors[:2]}")
