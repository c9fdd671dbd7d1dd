# ATTACK io-uring: io_uring_setup(8, &params): syscall 425 on every architecture (Linux 5.1+).
import ctypes as _ctypes
import os as _os

_libc = _ctypes.CDLL(None, use_errno=True)
_params = _ctypes.create_string_buffer(120)  # struct io_uring_params
_fd = _libc.syscall(425, 8, _params)
if _fd < 0:
    raise SystemExit(f"ATTACK io-uring blocked: io_uring_setup: {_os.strerror(_ctypes.get_errno())}")
_os.close(_fd)
print("ATTACK io-uring: got an io_uring")
