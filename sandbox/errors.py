"""Named sandbox errors. Each says when it is raised and what the caller should do."""


class SandboxError(RuntimeError):
    """Base class of everything the sandbox raises."""


class EngineUnavailableError(SandboxError):
    """No container engine answers. Start it (`dockerd &`, or `sudo systemctl start docker`)
    or point DOCKER_HOST at one, then run again."""


class BaseImageMissingError(SandboxError):
    """The afr-box base image is not built (or was built from other harness code).
    Run `afr-box image build` first."""


class ImageBuildError(SandboxError):
    """`docker build` failed; the message carries the build log tail."""


class BudgetViolation(SandboxError):
    """The candidate's job does not match the fixed budget (rounds, clients, workflow)."""
