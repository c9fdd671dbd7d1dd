"""Connecting to the Docker engine (docker-py), with an error that says how to start one."""
from __future__ import annotations

from afr_box.sandbox.errors import EngineUnavailableError


def connect():
    import docker

    try:
        client = docker.from_env(timeout=300)
        client.ping()
        return client
    except Exception as exc:  # docker raises several unrelated types here
        raise EngineUnavailableError(
            f"cannot reach a Docker engine ({exc}). Start it (`dockerd >/tmp/dockerd.log 2>&1 &` as root, "
            "or `sudo systemctl start docker`) or set DOCKER_HOST, then run again."
        ) from None
