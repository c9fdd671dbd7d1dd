"""One simulator worker, run as `python -m nvflare...simulator_worker` runs it, but always as the
client its command names (forked by the broker's fork server, preload.py, already restricted to
that client's site).

    python -m afr_box.sandbox.harness.site_worker <site> <simulator worker arguments>

NVFlare 2.9's simulator tells a new worker which client it is through a dict its client threads
share (SimulatorClientRunner.do_one_task sets build_ctx["client_name"], deep-copies the deploy
arguments, then sends the dict): when two workers start at once, one can be sent the other's name
and run as that client, so one site trains twice and another not at all. Under site isolation
that worker is refused the other site's data and an honest candidate looked like a violation.
Here the name is the site the launcher restricted this worker to (its --client, checked by the broker).
The worker runs with the harness's speed settings (nvflare_speed.py) unless the bench asks for
NVFlare as shipped.
"""
from __future__ import annotations

import runpy
import sys

from nvflare.private.fed.app.deployer.base_client_deployer import BaseClientDeployer

from afr_box.sandbox.harness import nvflare_speed
from afr_box.sandbox.harness.sites import WORKER_MODULE


def pin_client_name(client: str) -> None:
    """Every client deployer built in this process builds `client`, whatever name it is sent."""
    build = BaseClientDeployer.build

    def build_as_client(self, build_ctx):
        build(self, {**build_ctx, "client_name": client})

    BaseClientDeployer.build = build_as_client


def main(site: str, args: list[str]) -> None:
    pin_client_name(site)
    if not nvflare_speed.wanted():
        sys.argv = [WORKER_MODULE, *args]
        runpy.run_module(WORKER_MODULE, run_name="__main__", alter_sys=True)  # NVFlare as shipped
        return
    worker = nvflare_speed.speed_up_worker()
    sys.argv = [worker.__file__, *args]
    # What the worker module's __main__ block does, less its closing 2 s sleep.
    from nvflare.fuel.f3.mpm import MainProcessMonitor

    parsed = worker.parse_arguments()
    MainProcessMonitor.run(main_func=worker.main, run_dir=parsed.workspace, args=parsed)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
