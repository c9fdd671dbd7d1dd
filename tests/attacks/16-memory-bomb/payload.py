# ATTACK memory-bomb: touch every page we can get.
_hoard = []
try:
    while True:
        _hoard.append(bytearray(256 * 1024 * 1024))  # zero-filled: every page is touched
except MemoryError as _exc:
    raise SystemExit(f"ATTACK memory-bomb blocked: MemoryError after {len(_hoard) * 256} MB")
