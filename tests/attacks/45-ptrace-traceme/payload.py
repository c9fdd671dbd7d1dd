# ATTACK ptrace-traceme: in a child, ask to be traced by the parent (PTRACE_TRACEME = 0).
import ctypes as _ctypes
import os as _os

_r, _w = _os.pipe()
_pid = _os.fork()
if _pid == 0:
    _libc = _ctypes.CDLL(None, use_errno=True)
    _rc = _libc.ptrace(0, 0, None, None)
    _os.write(_w, b"ok" if _rc == 0 else _os.strerror(_ctypes.get_errno()).encode())
    _os._exit(0)
_os.waitpid(_pid, 0)
_answer = _os.read(_r, 200).decode()
if _answer != "ok":
    raise SystemExit(f"ATTACK ptrace-traceme blocked: ptrace: {_answer}")
print("ATTACK ptrace-traceme: PTRACE_TRACEME succeeded")
