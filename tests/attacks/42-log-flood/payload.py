# ATTACK log-flood: flood the container log, then fail (the crash reason carries the log tail).
import sys as _sys

_line = "flood " * 170 + "\n"  # about 1 kB
for _ in range(160_000):
    _sys.stdout.write(_line)
_sys.stdout.flush()
raise SystemExit("ATTACK log-flood: wrote 160 MB to stdout")
