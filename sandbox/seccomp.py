"""afr-box's own seccomp profile, applied to every container by `spec.container_args`.

It is the engine's default allow-list as it applies to a container without capabilities (every
afr-box container drops them all), minus the kernel interfaces a training job never needs and
kernel exploits keep using. Anything not allowed fails with EPERM. The default's rules that only
open with a capability (mount, bpf, perf_event_open, ptrace with CAP_SYS_PTRACE, ...) are left
out, since no afr-box container has one; namespace-creating clone flags stay refused, and
clone3 answers ENOSYS so that libc falls back to clone, whose flags the filter can see.

What is refused beyond the default, and why, is `DENIED`; `afr-box policy review` prints it and
the attack suite tries each (tests/attacks: io-uring, ptrace-traceme, kernel-surface).
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

# Refused although the engine's default allows (some of) them, with the reason.
DENIED: dict[str, str] = {
    "io_uring_setup": "io_uring: asynchronous syscalls outside the filter, a leading source of kernel exploits",
    "io_uring_enter": "io_uring",
    "io_uring_register": "io_uring",
    "ptrace": "tracing other processes (PTRACE_TRACEME needs no capability)",
    "process_vm_readv": "reading another process's memory",
    "process_vm_writev": "writing another process's memory",
    "kcmp": "comparing other processes' kernel objects",
    "pidfd_getfd": "taking another process's file descriptors",
    "process_madvise": "advising on another process's memory",
    "userfaultfd": "user-space page-fault handling (a tool for winning kernel races)",
    "bpf": "loading programs into the kernel",
    "perf_event_open": "performance counters (kernel pointers, side channels)",
    "keyctl": "the kernel keyring",
    "add_key": "the kernel keyring",
    "request_key": "the kernel keyring",
}

# What a CPU or GPU training job, its Python runtime and NVFlare (over loopback) use, by purpose.
_ALLOWED_GROUPS: dict[str, tuple[str, ...]] = {
    "files": (
        "access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "chmod", "fchmod", "fchmodat",
        "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32", "open", "openat", "openat2",
        "creat", "close", "close_range", "read", "readv", "pread64", "preadv", "preadv2", "write", "writev",
        "pwrite64", "pwritev", "pwritev2", "lseek", "_llseek", "dup", "dup2", "dup3", "fcntl", "fcntl64", "flock",
        "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "truncate", "truncate64", "ftruncate",
        "ftruncate64", "fallocate", "fadvise64", "fadvise64_64", "readahead", "stat", "stat64", "lstat", "lstat64",
        "fstat", "fstat64", "fstatat64", "newfstatat", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64",
        "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat",
        "symlink", "symlinkat", "unlink", "unlinkat", "readlink", "readlinkat", "umask", "utime", "utimes",
        "utimensat", "utimensat_time64", "futimesat", "mknod", "mknodat", "copy_file_range", "sendfile",
        "sendfile64", "splice", "tee", "vmsplice", "name_to_handle_at",
        "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr",
        "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
    ),
    "waiting on events": (
        "select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64", "epoll_create",
        "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait",
        "epoll_pwait2", "eventfd", "eventfd2", "inotify_init", "inotify_init1", "inotify_add_watch",
        "inotify_rm_watch", "fanotify_mark", "signalfd", "signalfd4", "timerfd_create", "timerfd_settime",
        "timerfd_settime64", "timerfd_gettime", "timerfd_gettime64", "pipe", "pipe2",
        # the classic Linux AIO (not io_uring)
        "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
    ),
    "memory": (
        "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "mlock", "mlock2", "mlockall",
        "munlock", "munlockall", "msync", "remap_file_pages", "membarrier", "memfd_create", "memfd_secret",
        "pkey_alloc", "pkey_free", "pkey_mprotect", "process_mrelease",
    ),
    "processes and threads": (
        "execve", "execveat", "fork", "vfork", "exit", "exit_group", "wait4", "waitid", "waitpid", "kill", "tkill",
        "tgkill", "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid",
        "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "prctl", "capget", "capset",
        "getpriority", "setpriority", "ioprio_get", "ioprio_set", "getcpu", "pidfd_open", "pidfd_send_signal",
        "restart_syscall", "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
        "set_thread_area", "get_thread_area", "futex", "futex_time64", "futex_waitv",
        "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr", "sched_getparam",
        "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
        "sched_get_priority_min", "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_yield",
    ),
    "user and group ids (within the container's own user)": (
        "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32", "getresuid",
        "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32", "setuid", "setuid32", "setgid",
        "setgid32", "setreuid", "setreuid32", "setregid", "setregid32", "setresuid", "setresuid32", "setresgid",
        "setresgid32", "setgroups", "setgroups32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32",
    ),
    "signals": (
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask",
        "sigreturn", "pause", "alarm",
    ),
    "time and limits": (
        "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64", "clock_nanosleep",
        "clock_nanosleep_time64", "nanosleep", "gettimeofday", "time", "times", "getitimer", "setitimer",
        "timer_create", "timer_delete", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
        "timer_getoverrun", "adjtimex", "clock_adjtime", "clock_adjtime64",
        "getrlimit", "ugetrlimit", "setrlimit", "prlimit64", "getrusage", "sysinfo", "uname",
    ),
    "sockets (the container has loopback only)": (
        "socketcall", "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname",
        "getpeername", "getsockopt", "setsockopt", "shutdown", "send", "sendto", "sendmsg", "sendmmsg", "recv",
        "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64",
    ),
    "System V and POSIX IPC (private to the container)": (
        "ipc", "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semtimedop_time64",
        "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
        "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
    ),
    "devices (GPUs are driven through ioctl)": ("ioctl",),
    "randomness": ("getrandom",),
}
# Architecture-specific calls, for the architectures afr-box runs on.
_ARCH_ALLOWED = {("amd64", "x32"): ("arch_prctl",), ("amd64", "x32", "x86"): ("modify_ldt",),
                 ("arm", "arm64"): ("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
                                    "cacheflush", "set_tls")}
_NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_AF_VSOCK = 40
# personality(2) values libc and Python use: PER_LINUX, PER_LINUX32, UNAME26 (and with LINUX32), query.
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
EPERM, ENOSYS = 1, 38


def allowed() -> frozenset[str]:
    """Every syscall name the profile allows without conditions on its arguments."""
    return frozenset(n for group in _ALLOWED_GROUPS.values() for n in group) | frozenset(
        n for names in _ARCH_ALLOWED.values() for n in names)


@lru_cache(maxsize=1)
def profile() -> dict[str, Any]:
    """The profile in the engine's JSON format."""
    plain = sorted(n for group in _ALLOWED_GROUPS.values() for n in group)
    overlap = set(plain) & set(DENIED)
    if overlap:  # one list must not undo the other
        raise AssertionError(f"seccomp: allowed and denied at once: {sorted(overlap)}")
    rules: list[dict[str, Any]] = [{"names": plain, "action": "SCMP_ACT_ALLOW"}]
    rules += [{"names": list(names), "action": "SCMP_ACT_ALLOW", "includes": {"arches": list(arches)}}
              for arches, names in _ARCH_ALLOWED.items()]
    rules.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 0, "value": _AF_VSOCK, "op": "SCMP_CMP_NE"}]})
    rules += [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]} for value in _PERSONALITIES]
    # clone's flags are its first argument everywhere but on s390, which afr-box does not run on.
    rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 0, "value": _NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]})
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    rules.append({"names": sorted(DENIED), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM})
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": rules}


@lru_cache(maxsize=1)
def profile_json() -> str:
    return json.dumps(profile(), sort_keys=True, separators=(",", ":"))


def profile_id() -> str:
    """What a record names the profile by: afr-box:<sha256 of its JSON, 16 hex>."""
    return f"afr-box:{hashlib.sha256(profile_json().encode()).hexdigest()[:16]}"
