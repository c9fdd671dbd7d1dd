"""Images by digest through a registry, so a cluster node runs exactly the image that was gated.

The orchestrator pushes the base image once (1.6 GB) and each candidate image (only its small
surface layer is new) and records the digest. A node pulls `REGISTRY/afr/cand@sha256:...`
and, before running anything, checks that the pulled image's id equals the id built and logged
here: an image id is the digest of its config, so it is the same on every engine that holds
the same image.
"""
from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from afr_box.sandbox.errors import RegistryError
from afr_box.sandbox.provider import ImageInfo

REPOSITORIES = {"base": "afr/base", "candidate": "afr/cand"}
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$")


def parse_registry(address: str) -> str:
    """`HOST[:PORT]` as Docker names a registry (no scheme, no path)."""
    address = address.strip().rstrip("/")
    for scheme in ("http://", "https://"):
        if address.startswith(scheme):
            address = address[len(scheme):]
    if not _ADDRESS.match(address):
        raise RegistryError(f"--registry {address!r} is not HOST:PORT (e.g. 10.0.0.5:5000)")
    return address


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Any answer of the registry API (200, or 401 with auth) means it is up; nothing means it is not."""
    problems = []
    for scheme in ("https", "http"):
        try:
            urllib.request.urlopen(f"{scheme}://{address}/v2/", timeout=timeout_s)
            return
        except urllib.error.URLError as exc:
            if isinstance(getattr(exc, "reason", None), ssl.SSLCertVerificationError):
                return  # TLS with a certificate this host does not trust: up; the engine has its own trust store
            if isinstance(exc, urllib.error.HTTPError) and exc.code == 401:
                return
            problems.append(f"{scheme}: {getattr(exc, 'code', None) or exc.reason}")
        except (OSError, ValueError) as exc:
            problems.append(f"{scheme}: {getattr(exc, 'reason', exc)}")
    raise RegistryError(f"registry {address} does not answer ({'; '.join(problems)}); start it "
                        f"(README, 'Scale out': docker-registry serve config.yml) or fix --registry")


def repository(registry: str, image: ImageInfo) -> str:
    kind = image.labels.get("afr.kind", "candidate")
    return f"{registry}/{REPOSITORIES.get(kind, REPOSITORIES['candidate'])}"


def push(client, registry: str, image: ImageInfo) -> str:
    """Push `image` (by id) and return its digest reference `REGISTRY/afr/<repo>@sha256:...`."""
    repo = repository(registry, image)
    # The local tag's own part (afr-cand:heart-<hash> -> heart-<hash>); a tag already pushed
    # (REGISTRY:PORT/afr/cand:heart-<hash>) ends the same way.
    tag = next((t.rsplit(":", 1)[1] for t in image.tags if ":" in t), image.id.split(":")[-1][:16])
    img = client.images.get(image.id)
    img.tag(repo, tag)
    try:
        for line in client.api.push(repo, tag=tag, stream=True, decode=True):
            if "error" in line:
                raise RegistryError(f"pushing {repo}:{tag} failed: {line['error']}")
    except RegistryError:
        raise
    except Exception as exc:  # the engine's own errors (connection, auth) come in several types
        raise RegistryError(f"pushing {repo}:{tag} failed: {exc}") from None
    img.reload()
    digests = [d for d in img.attrs.get("RepoDigests") or [] if d.startswith(repo + "@")]
    if not digests:
        raise RegistryError(f"pushed {repo}:{tag} but the engine reports no digest for it")
    return digests[0]


def pull(client, ref: str, expected_id: str):
    """Pull `ref` (a digest reference) and refuse it unless it is the image `expected_id`."""
    if "@sha256:" not in ref:
        raise RegistryError(f"refusing to pull {ref!r}: nodes pull by digest only")
    try:
        img = client.images.pull(ref)
    except Exception as exc:
        raise RegistryError(f"pulling {ref} failed: {exc}") from None
    if img.id != expected_id:
        raise RegistryError(f"{ref} is image {img.id[:19]}, not the gated {expected_id[:19]}: refusing to run it")
    return img


class LoopbackRegistry:
    """Debian's `docker-registry` serving on 127.0.0.1 from a folder (tests, benchmarks, one-box
    trials). Docker treats 127.0.0.0/8 as an insecure registry, so plain HTTP needs no daemon change."""

    def __init__(self, root: Path, port: int = 0):
        self.root, self.port = Path(root), port or _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._proc: Optional[subprocess.Popen] = None

    def start(self, timeout_s: float = 30.0) -> "LoopbackRegistry":
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if binary is None:
            raise RegistryError("no registry binary: `apt-get install -y docker-registry` (scripts/setup-host.sh does it)")
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                          f"    rootdirectory: {self.root / 'data'}\n  delete:\n    enabled: true\n"
                          f"http:\n  addr: {self.address}\n")
        self._proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                                      stderr=open(self.root / "registry.log", "ab"))
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                check_reachable(self.address, timeout_s=1.0)
                return self
            except RegistryError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RegistryError(f"the loopback registry did not start; see {self.root / 'registry.log'}")
                time.sleep(0.2)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None

    def __enter__(self) -> "LoopbackRegistry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
