"""A container's /out on a filesystem whose size and inode count the kernel enforces.

A bind mount of a host folder has no limit of its own: a watcher that walks it between waits
misses paths longer than PATH_MAX, counts no inodes (hundreds of thousands of empty files pass)
and sees a burst only after it happened. So each container's /out is a tmpfs of its own, mounted
on the host (`size` = the policy's out_size, `nr_inodes` = out_inodes, nosuid, nodev, noexec,
owned by the container user) and bind-mounted in: a write past either limit fails with ENOSPC
inside the container, and nothing reaches the host's disk. After the container is gone, its plain
files are copied into the record's folder (links, special files and deep trees refused, as
sandbox/outputs.py refuses them) and the tmpfs is unmounted.

Mounting needs root (CAP_SYS_ADMIN) on the engine host, and an engine in the same mount
namespace; `check_mountable` says so before a campaign starts. Mount points live under the cache
folder as `out-mounts/<pid>-*`, so those of a killed orchestrator are found and released.
"""
from __future__ import annotations

import ctypes
import os
import stat
import tempfile
from pathlib import Path
from typing import Optional

from afr_box.policies.schema import ContainerLimits, size_bytes
from afr_box.sandbox.errors import SandboxError
from afr_box.sandbox.images import cache_dir
from afr_box.sandbox.outputs import not_plain
from afr_box.tasks.shared.text import safe_text

MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
MNT_DETACH = 0x2
MAX_DEPTH = 2      # the harness writes /out/<file> and /out/predictions/<file>, nothing deeper
COPY_CHUNK = 1 << 20


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def mounts_dir() -> Path:
    path = cache_dir() / "out-mounts"
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _mount_tmpfs(target: Path, size: int, inodes: int, user: str) -> None:
    uid, gid = user.split(":")
    options = f"size={size},nr_inodes={inodes},mode=0700,uid={uid},gid={gid}".encode()
    if _libc().mount(b"tmpfs", os.fsencode(target), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"cannot mount the size-limited tmpfs for /out at {target} ({os.strerror(errno)}): "
                           "afr-box must run as root (CAP_SYS_ADMIN) on the engine host")


def _unmount(target: Path) -> None:
    _libc().umount2(os.fsencode(target), MNT_DETACH)  # lazy: gone once nothing uses it
    try:
        target.rmdir()
    except OSError:
        pass


class BoundedOut:
    """One container's /out: `path` is the tmpfs to bind-mount; `collect(dest)` copies it out."""

    def __init__(self, limits: ContainerLimits):
        self.size, self.inodes, self.user = size_bytes(limits.out_size), limits.out_inodes, limits.user
        self.path: Optional[Path] = None

    def __enter__(self) -> "BoundedOut":
        self.path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=mounts_dir()))
        try:
            _mount_tmpfs(self.path, self.size, self.inodes, self.user)
        except SandboxError:
            self.path.rmdir()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            _unmount(self.path)

    def collect(self, dest: Path) -> str:
        """Copy the plain files and folders of /out into `dest` (an existing folder); '' or the
        first thing refused (names escaped). Nothing is followed; what is read is bounded by the tmpfs."""
        assert self.path is not None
        return safe_text(_copy_tree(self.path, Path(dest), "", 0))


def _copy_tree(src: Path, dest: Path, rel_dir: str, depth: int) -> str:
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        st = entry.stat(follow_symlinks=False)
        problem = not_plain(entry.path, rel, st)
        if problem:
            return problem
        if stat.S_ISDIR(st.st_mode):
            if depth + 1 >= MAX_DEPTH:  # its files would sit deeper than any the harness writes
                return f"{rel}/ is nested deeper than the harness writes"
            (dest / entry.name).mkdir(mode=0o755, exist_ok=True)
            os.chmod(dest / entry.name, 0o755)
            problem = _copy_tree(Path(entry.path), dest / entry.name, rel, depth + 1)
            if problem:
                return problem
            continue
        src_fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            dst_fd = os.open(dest / entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                os.fchmod(dst_fd, 0o644)
                while chunk := os.read(src_fd, COPY_CHUNK):
                    os.write(dst_fd, chunk)
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)
    return ""


def release_stale_mounts() -> int:
    """Unmount the /out tmpfs of orchestrators that died (kill -9) before unmounting them."""
    released = 0
    for entry in mounts_dir().iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            _unmount(entry)
            released += 1
    return released


def check_mountable() -> None:
    """Mount and unmount a /out as a run would; SandboxError naming what to fix otherwise."""
    with BoundedOut(ContainerLimits(out_size="1m", out_inodes=64)) as probe:
        (probe.path / "probe").write_bytes(b"")

