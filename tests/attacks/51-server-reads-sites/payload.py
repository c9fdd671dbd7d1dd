

# ATTACK server-reads-sites: the server side holds every site's rows (it could train on the pool
# and send that model out as the aggregate). Only where the server runs the aggregator (job.py's
# export, which imports this module too, is another attack's).
import os as _os
import sys as _sys

from afr_box.tasks.shared.site_env import data_dir as _data_dir, run_info as _run_info

_POOLED = {}
if not _sys.argv[0].endswith("export_job.py"):
    for _site in _run_info()["sites"]:
        for _name in sorted(_os.listdir(_data_dir() / _site)):
            with open(_data_dir() / _site / _name, "rb") as _f:
                _POOLED[(_site, _name)] = _f.read()
