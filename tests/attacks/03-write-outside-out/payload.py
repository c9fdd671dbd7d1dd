# ATTACK write-outside-out: leave files anywhere but /out and /tmp.
_errors = []
for _path in ("/etc/afr-owned", "/usr/local/bin/afr-owned", "/var/afr-owned", "/root/afr-owned",
              "/surface/afr-owned", "/run/run.json", "/afr-owned"):
    try:
        with open(_path, "a") as _f:
            _f.write("owned\n")
    except OSError as _exc:
        _errors.append(f"{_path}: {_exc.strerror}")
if len(_errors) == 7:
    raise SystemExit(f"ATTACK write-outside-out blocked: {'; '.join(_errors)}")
