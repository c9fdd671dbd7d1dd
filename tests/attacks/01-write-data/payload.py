# ATTACK write-data: corrupt the training data every candidate after this one would read.
import os as _os

_files = sorted(_os.listdir("/data"))
try:
    with open(_os.path.join("/data", _files[0]), "ab") as _f:
        _f.write(b"tampered")
except OSError as _exc:
    raise SystemExit(f"ATTACK write-data blocked: {_exc}")
