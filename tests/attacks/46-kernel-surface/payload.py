# ATTACK kernel-surface: each call with harmless arguments; any that reaches the kernel is a way in.
import ctypes as _ctypes
import os as _os
import platform as _platform

_NR = {"x86_64": {"add_key": 248, "request_key": 249, "keyctl": 250, "bpf": 321, "perf_event_open": 298,
                  "userfaultfd": 323},
       "aarch64": {"add_key": 217, "request_key": 218, "keyctl": 219, "bpf": 280, "perf_event_open": 241,
                   "userfaultfd": 282}}
_nr = _NR[_platform.machine()]
_libc = _ctypes.CDLL(None, use_errno=True)
_attr = _ctypes.create_string_buffer(128)  # zeroed perf_event_attr / bpf_attr
_calls = {
    "add_key": (_nr["add_key"], b"user", b"afr", b"x", 1, -3),      # into KEY_SPEC_SESSION_KEYRING
    "keyctl": (_nr["keyctl"], 0, -3, 0, 0, 0),                        # KEYCTL_GET_KEYRING_ID of the session keyring
    "request_key": (_nr["request_key"], b"user", b"afr", None, 0),
    "bpf": (_nr["bpf"], 0, _attr, 128),                               # BPF_MAP_CREATE with an empty attr
    "perf_event_open": (_nr["perf_event_open"], _attr, 0, -1, -1, 0),
    "userfaultfd": (_nr["userfaultfd"], _os.O_CLOEXEC | 1),          # UFFD_USER_MODE_ONLY
}
_refused, _got = [], []
for _name, _args in _calls.items():
    _rc = _libc.syscall(*_args)
    _errno = _ctypes.get_errno()
    if _rc < 0 and _errno == 1:  # EPERM: refused before the call reached the kernel's own checks
        _refused.append(f"{_name}: {_os.strerror(_errno)}")
    else:
        _got.append(f"{_name}: rc {_rc} errno {_errno}")
if not _got:
    raise SystemExit("ATTACK kernel-surface blocked: " + "; ".join(_refused))
print("ATTACK kernel-surface reached the kernel:", _got)
