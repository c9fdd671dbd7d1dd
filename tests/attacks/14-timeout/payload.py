# ATTACK timeout: never finish, and keep a SIGTERM-proof child around.
import os as _os
import signal as _signal

if _os.fork() == 0:
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
    while True:
        pass
while True:
    pass
