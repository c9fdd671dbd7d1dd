"""The Docker provider: this machine's engine, through docker-py, stores the images and runs the
containers (sandbox/providers.py registers it as "docker")."""
from __future__ import annotations

from afr_box.sandbox.provider import Sandbox


def open_sandbox(client=None) -> Sandbox:
    from afr_box.sandbox.docker.engine import connect
    from afr_box.sandbox.docker.executor import DockerExecutor
    from afr_box.sandbox.docker.images import DockerImages

    client = client or connect()
    return Sandbox("docker", DockerImages(client), DockerExecutor(client))
