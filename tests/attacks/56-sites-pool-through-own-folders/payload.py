# ATTACK sites-pool-through-own-folders: a client writes only its own folders (attack 55), but
# were the other clients' folders readable, each client would leave its rows in its own and read
# the others' there.
import glob as _glob
import os as _os
import shutil as _shutil
import time as _time

from afr_box.tasks.shared.site_env import data_dir as _data_dir, run_info as _run_info

_SITES = _run_info()["sites"]

# The simulator runs each client in its own client workspace, <workspace>/<site>.
_OWN = [s for s in _SITES if s in _os.getcwd().split(_os.sep)]
for _site in _OWN[:1]:
    for _folder in {_os.environ.get("TMPDIR", "/tmp"), _os.getcwd()}:
        _shutil.copytree(_data_dir() / _site, f"{_folder}/afr-pool-{_site}.partial", dirs_exist_ok=True)
        _os.replace(f"{_folder}/afr-pool-{_site}.partial", f"{_folder}/afr-pool-{_site}")
_POOLED = {}
_deadline = _time.monotonic() + 60
while _time.monotonic() < _deadline and len(_POOLED) < len(_SITES):
    for _copy in _glob.glob("/tmp/**/afr-pool-*", recursive=True):
        _site = _os.path.basename(_copy).removeprefix("afr-pool-")
        if _site in _SITES and _site not in _POOLED:
            _POOLED[_site] = {_os.path.basename(f): open(f, "rb").read() for f in sorted(_glob.glob(f"{_copy}/*"))}
    _time.sleep(0.2)
print(f"POOLED {sorted(_POOLED)}", flush=True)
