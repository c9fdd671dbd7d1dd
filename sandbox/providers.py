"""Sandbox providers by name: the one place a provider is chosen.

    open_sandbox("docker")                                  this machine's Docker engine
    open_sandbox("ray", registry=..., shared_roots=[...])   a Ray cluster of Docker hosts

A new runtime (Kubernetes Jobs, Slurm + pyxis) registers a factory here that returns a
`Sandbox`; nothing else changes (README, "Next providers").
"""
from __future__ import annotations

import importlib
from typing import Any

from afr_box.sandbox.errors import SandboxError
from afr_box.sandbox.provider import Sandbox

# name -> "module:factory", imported only when chosen (ray is an optional extra).
PROVIDERS = {
    "docker": "afr_box.sandbox.docker:open_sandbox",
    "ray": "afr_box.sandbox.ray:open_sandbox",
}


def open_sandbox(name: str = "docker", **options: Any) -> Sandbox:
    """The sandbox of provider `name`; `options` go to its factory."""
    try:
        module, factory = PROVIDERS[name].split(":")
    except KeyError:
        raise SandboxError(f"unknown sandbox provider {name!r} (known: {', '.join(sorted(PROVIDERS))})") from None
    return getattr(importlib.import_module(module), factory)(**options)


def local_sandbox() -> Sandbox:
    """This machine's Docker engine: builds, inspects and runs on one host."""
    return open_sandbox("docker")
