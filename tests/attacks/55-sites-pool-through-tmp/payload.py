# ATTACK sites-pool-through-tmp: a client cannot read another site's folder, so every client
# hands its own rows over through /tmp and trains on what the others left there.
import os as _os
import shutil as _shutil
import time as _time

from afr_box.tasks.shared.site_env import data_dir as _data_dir, run_info as _run_info

_SITES = _run_info()["sites"]


def _readable(site):
    try:
        for _path in (_data_dir() / site).iterdir():
            with open(_path, "rb") as _f:
                _f.read(1)
        return True
    except PermissionError:  # another site's folder: site isolation (attack 50)
        return False


_OWN = [s for s in _SITES if _readable(s)]
_POOL = "/tmp/afr-pool"
for _site in _OWN[:1]:
    _os.makedirs(_POOL, exist_ok=True)
    _shutil.copytree(_data_dir() / _site, f"{_POOL}/{_site}.partial", dirs_exist_ok=True)
    _os.replace(f"{_POOL}/{_site}.partial", f"{_POOL}/{_site}")
_deadline = _time.monotonic() + 60
while _time.monotonic() < _deadline and not all(_os.path.isdir(f"{_POOL}/{s}") for s in _SITES):
    _time.sleep(0.2)
_POOLED = {s: sorted(_os.listdir(f"{_POOL}/{s}")) for s in _SITES if _os.path.isdir(f"{_POOL}/{s}")}
