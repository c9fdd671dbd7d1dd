"""The NVFlare simulator, started so that its server reads no site, imports no candidate code and
starts each client worker through the site broker (sites.py), with the harness's speed settings
(nvflare_speed.py).

    python -s -P -m afr_box.sandbox.harness.simulate <nvflare simulator arguments>
    (AFR_VIEW_PATH: the surface view's import path, given here instead of PYTHONPATH;
     AFR_SIMULATE_PLAIN=1: a bare run on the host, without the restriction)

The simulator forks its server process from this one, after the worker command was rewritten
here at import. Candidate code that undoes the rewrite only gets workers that inherit the
server's restriction (no site). Every worker is started by the broker (forked from its fork
server, preload.py) and runs site_worker.py, as the client it was started for and with the same
speed settings, restricted or not.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from nvflare.private.fed.app.simulator import simulator_runner as _runner

from afr_box.sandbox.harness import nvflare_speed
from afr_box.sandbox.harness.sites import PLAIN_ENV, VIEW_PATH_ENV, WORKER_ARGV_ENV, WORKER_MODULE

PLAIN = os.environ.get(PLAIN_ENV) == "1"  # read once, before any candidate code runs
# The surface view, for the client workers only: this process, NVFlare's server, imports no
# candidate code (-P and no PYTHONPATH at start; the runner took the candidate's aggregator and
# model out of its config: server_config.py).
VIEW = os.environ.pop(VIEW_PATH_ENV, "")


class _Subprocess:
    """The simulator runner's `subprocess`, with worker commands sent to a relay."""

    def __getattr__(self, name):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(args, *rest, **kwargs):
        if isinstance(args, (list, tuple)) and WORKER_MODULE in args:
            env = {**(kwargs.get("env") or os.environ), WORKER_ARGV_ENV: json.dumps(list(args))}
            # NVFlare gives a worker this process's sys.path; a worker imports the view first.
            env["PYTHONPATH"] = os.pathsep.join(p for p in (VIEW, env.get("PYTHONPATH", "")) if p)
            kwargs["env"] = env
            args = [sys.executable, "-I", "-u", "-m", "afr_box.sandbox.harness.site_relay"]
        return subprocess.Popen(args, *rest, **kwargs)


_runner.subprocess = _Subprocess()
if nvflare_speed.wanted():
    nvflare_speed.speed_up_simulator()


def main(args: list[str]) -> None:
    from afr_box.sandbox.harness.landlock import restrict_reads
    from afr_box.sandbox.harness.run_file import RunFile
    from afr_box.sandbox.harness.sites import readable
    from afr_box.tasks.shared.site_env import data_dir, run_file

    if not PLAIN:
        restrict_reads(readable(data_dir(), RunFile.read(run_file()).sites, None))
    # NVFlare's finalize_run imports nvflare.app_opt.pt (torch) at the end of every run; the PT
    # persistor used to import it at start. Importing it here keeps it off the run's last step.
    import nvflare.app_opt.pt  # noqa: F401
    from nvflare.cli import main as nvflare_main

    sys.argv = ["nvflare", "simulator", *args]
    sys.exit(nvflare_main())


if __name__ == "__main__":
    main(sys.argv[1:])
