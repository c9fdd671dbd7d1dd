# ATTACK fill-tmp: exhaust the scratch space (and the host's RAM behind it).
_written = 0
_chunk = b"\0" * (16 * 1024 * 1024)
try:
    with open("/tmp/afr-fill", "wb") as _f:
        while _written < 64 * 1024 ** 3:
            _f.write(_chunk)
            _written += len(_chunk)
except OSError as _exc:
    raise SystemExit(f"ATTACK fill-tmp blocked: {_exc} after {_written // 2**20} MB")
