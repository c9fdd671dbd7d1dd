# ATTACK read-other-sites: each client pools every site's training rows before it trains.
import os as _os

from afr_box.tasks.shared.site_env import data_dir as _data_dir, run_info as _run_info

_POOLED = {}
for _site in _run_info()["sites"]:
    for _name in sorted(_os.listdir(_data_dir() / _site)):
        with open(_data_dir() / _site / _name, "rb") as _f:
            _POOLED[(_site, _name)] = _f.read()
