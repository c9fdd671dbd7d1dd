"""afr-box's seccomp profile in a real hardened container: each refused call fails with EPERM, what a
job needs still works, and under the engine's default profile (the control) io_uring and
ptrace(PTRACE_TRACEME) would have succeeded."""
from __future__ import annotations

import json
import platform

import pytest

from afr_box.policies.schema import ContainerLimits
from afr_box.sandbox.spec import Mount, RunSpec, container_args, writable_out

# Each call with harmless arguments; prints {name: errno (0 = it succeeded)}.
PROBE = r"""
import ctypes, json, os, platform, socket, threading
NR = {"x86_64": dict(io_uring_setup=425, io_uring_register=427, ptrace=101, process_vm_readv=310, userfaultfd=323,
                     bpf=321, perf_event_open=298, keyctl=250, add_key=248, request_key=249, kcmp=312, pidfd_getfd=438,
                     unshare=272, mount=165, clone3=435),
      "aarch64": dict(io_uring_setup=425, io_uring_register=427, ptrace=117, process_vm_readv=270, userfaultfd=282,
                      bpf=280, perf_event_open=241, keyctl=219, add_key=217, request_key=218, kcmp=272,
                      pidfd_getfd=438, unshare=97, mount=40, clone3=435)}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(256)
args = dict(io_uring_setup=(8, buf), io_uring_register=(-1, 0, None, 0), process_vm_readv=(os.getpid(), None, 0, None, 0, 0),
            userfaultfd=(os.O_CLOEXEC | 1,), bpf=(0, buf, 128), perf_event_open=(buf, 0, -1, -1, 0),
            keyctl=(0, -3, 0, 0, 0), add_key=(b"user", b"afr", b"x", 1, -3), request_key=(b"user", b"afr", None, 0),
            kcmp=(os.getpid(), os.getpid(), 0, 0, 0), pidfd_getfd=(-1, 0, 0), unshare=(0x10000000,),
            mount=(b"none", b"/tmp", b"tmpfs", 0, None), clone3=(None, 0))
out = {}
for name, nr in NR.items():
    if name == "ptrace":  # PTRACE_TRACEME in a child
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            rc = libc.syscall(nr, 0, 0, None, None)
            os.write(w, str(0 if rc == 0 else ctypes.get_errno()).encode()); os._exit(0)
        os.waitpid(pid, 0); out[name] = int(os.read(r, 16)); continue
    rc = libc.syscall(nr, *args[name])
    out[name] = 0 if rc >= 0 else ctypes.get_errno()
t = threading.Thread(target=lambda: None); t.start(); t.join()           # clone (threads) still works
pid = os.fork()                                                          # fork too
if pid == 0: os._exit(0)
os.waitpid(pid, 0)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); s.close()     # loopback sockets (NVFlare)
out["job_calls"] = "ok"
print("PROBE " + json.dumps(out))
"""
DENIED = {"io_uring_setup", "io_uring_register", "ptrace", "process_vm_readv", "userfaultfd", "bpf",
          "perf_event_open", "keyctl", "add_key", "request_key", "kcmp", "pidfd_getfd", "unshare", "mount"}


def probe_spec(sandbox, tmp_path) -> RunSpec:
    from afr_box.sandbox.images import find_base

    limits = ContainerLimits()
    return RunSpec(image=find_base(sandbox.images).id, command=["python3", "-c", PROBE],
                   mounts=[Mount(writable_out(tmp_path / "out", limits.user), "/out", read_only=False)],
                   limits=limits, timeout_s=60, labels={"afr.campaign": "hardening-seccomp-test"})


def probe_results(log: str) -> dict:
    line = next(line for line in log.splitlines() if line.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="syscall numbers for x86_64/aarch64")
def test_every_refused_call_fails_with_eperm_and_a_job_still_runs(sandbox, tmp_path):
    result = sandbox.executor.run(probe_spec(sandbox, tmp_path), tmp_path / "probe.log")
    assert result.exit_code == 0, (tmp_path / "probe.log").read_text()
    found = probe_results((tmp_path / "probe.log").read_text())
    assert found.pop("job_calls") == "ok"
    assert found.pop("clone3") == 38  # ENOSYS: libc falls back to clone, whose flags the filter sees
    assert {name: errno for name, errno in found.items() if errno != 1} == {}
    assert set(found) == DENIED


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="syscall numbers for x86_64/aarch64")
def test_under_the_engines_default_profile_io_uring_and_ptrace_would_succeed(sandbox, tmp_path):
    args = container_args(probe_spec(sandbox, tmp_path))
    args["security_opt"] = ["no-new-privileges"]  # everything else hardened as usual: only the profile differs
    container = sandbox.executor.client.containers.create(**args)
    try:
        container.start()
        assert container.wait(timeout=60)["StatusCode"] == 0
        found = probe_results(container.logs().decode())
    finally:
        container.remove(force=True)
    assert found["io_uring_setup"] == 0 and found["ptrace"] == 0
