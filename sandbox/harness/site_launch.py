"""Starts one simulator worker restricted to its own site (started by the site broker, sites.py).

    python -I -m afr_box.sandbox.harness.site_launch <site>

Runs isolated (-I) with a clean environment, so nothing the candidate wrote (PYTHONPATH, a
shadowing module, LD_PRELOAD) runs before the restriction; then it restricts itself with
Landlock to its site and execs the worker (site_worker.py: as the client it was started for) with
the environment the simulator gave it.
"""
from __future__ import annotations

import json
import os
import sys

from afr_box.sandbox.harness.landlock import restrict_reads
from afr_box.sandbox.harness.run_file import RunFile
from afr_box.sandbox.harness.sites import REQUEST_ENV, readable
from afr_box.tasks.shared.site_env import data_dir, run_file


def main(site: str) -> None:
    request = json.loads(os.environ[REQUEST_ENV])  # checked by the broker (sites.worker_site)
    restrict_reads(readable(data_dir(), RunFile.read(run_file()).sites, site))
    worker_args = request["argv"][3:]  # after [python, "-m", WORKER_MODULE]: sites.worker_site
    os.execve(sys.executable, [sys.executable, "-m", "afr_box.sandbox.harness.site_worker", site, *worker_args],
              request["env"])


if __name__ == "__main__":
    main(sys.argv[1])
