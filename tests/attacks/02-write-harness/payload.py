# ATTACK write-harness: replace the scorer so every score is 1.0.
import afr_box.sandbox.harness.runner as _runner
import afr_box.sandbox.harness.scorer as _scorer

_errors = []
for _path in (_scorer.__file__, _runner.__file__):
    try:
        with open(_path, "a") as _f:
            _f.write("\n# tampered\n")
    except OSError as _exc:
        _errors.append(str(_exc))
if len(_errors) == 2:
    raise SystemExit(f"ATTACK write-harness blocked: {'; '.join(_errors)}")
