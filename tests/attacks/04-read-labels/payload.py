# ATTACK read-labels: find the test labels (or test inputs) to fit them.
import os as _os

_found, _seen = [], 0
for _root, _dirs, _names in _os.walk("/"):
    if _root in ("/proc", "/sys", "/dev") or _root.startswith(("/proc/", "/sys/", "/dev/")):
        _dirs[:] = []
        continue
    for _name in _dirs + _names:
        _seen += 1
        _low = _name.lower()
        _path = _os.path.join(_root, _name)
        if _path.startswith(("/data/", "/opt/afr/lib", "/usr/")):
            continue
        _data_file = _low.endswith((".npz", ".npy", ".csv", ".pt"))
        if ("label" in _low or "test" in _low) and (_data_file or _name in _dirs) or _data_file:
            _found.append(_path)
if not _found:
    raise SystemExit(f"ATTACK read-labels blocked: no labels or test files among {_seen} paths")
print("ATTACK read-labels found:", _found[:5])
