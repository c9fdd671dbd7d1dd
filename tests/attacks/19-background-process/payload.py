# ATTACK background-process: a double-forked, session-less daemon.
import os as _os

if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _os.execv("/bin/sleep", ["sleep", "3600"])
    _os._exit(0)
_os.wait()
