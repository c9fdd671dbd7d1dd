"""Named sandbox errors. Each says when it is raised and what the caller should do."""
from afr_box.tasks.shared.errors import AfrError


class SandboxError(AfrError, RuntimeError):
    """Base class of everything the sandbox raises for a user to act on (the message says what)."""


class EngineUnavailableError(SandboxError):
    """No container engine answers. Start it (`dockerd &`, or `sudo systemctl start docker`)
    or point DOCKER_HOST at one, then run again."""


class BaseImageMissingError(SandboxError):
    """The afr-box base image is not built (or was built from other harness code).
    Run `afr-box image build` first."""


class ImageBuildError(SandboxError):
    """`docker build` failed; the message carries the build log tail."""


class RegistryError(SandboxError):
    """The image registry is unreachable, a push or pull failed, or a pulled image is not the one
    that was gated. Start the registry (README, "Scale out") or fix --registry, then run again."""


class ClusterError(SandboxError):
    """The cluster cannot run candidates: unreachable, no node offers `afr_slot`, a node failed
    its preflight (the message names each node and what to fix), or a task died on its node."""


class RunInterrupted(SandboxError):
    """The executor was stopped (Ctrl-C, SIGTERM) while a container ran or before it started: the
    container was killed and removed. The candidate is not logged; `--resume` reruns it."""
