# ATTACK proc-sys-write: raise our own limits, poke the kernel.
import glob as _glob

_targets = ["/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/proc/sys/vm/overcommit_memory",
            "/proc/self/oom_score_adj"] + sorted(_glob.glob("/sys/fs/cgroup/memory.max"))[:1] + \
           sorted(_glob.glob("/sys/fs/cgroup/memory/memory.limit_in_bytes"))[:1]
_values = {"/proc/self/oom_score_adj": "-1000"}
_errors = []
for _path in _targets:
    try:
        with open(_path, "w") as _f:
            _f.write(_values.get(_path, "max"))
    except OSError as _exc:
        _errors.append(f"{_path}: {_exc.strerror}")
if len(_errors) == len(_targets):
    raise SystemExit(f"ATTACK proc-sys-write blocked: {'; '.join(_errors)}")
print("ATTACK proc-sys-write wrote:", set(_targets) - {e.split(':')[0] for e in _errors})
