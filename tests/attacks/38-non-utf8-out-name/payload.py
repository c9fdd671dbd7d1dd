# ATTACK non-utf8-out-name: a file whose name is the byte 0xe9 (Latin-1 "é"), invalid as UTF-8.
import os as _os

with open(_os.path.join(b"/out", b"stats-\xe9.json"), "wb") as _f:
    _f.write(b"{}")
