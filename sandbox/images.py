"""Base and candidate images, with content-addressed tags computed in one place.

- OS image (`afr-os:bookworm`): made locally with debootstrap + import when no registry is
  reachable; users with a registry pass any Python 3.11 image (or a CUDA PyTorch one).
- Base image (`afr-base:<harness digest>`): OS + wheelhouse (torch, nvflare) + the harness
  wheel. Its tag changes whenever the harness code, the Dockerfile or the requirements do.
- Candidate image (`afr-cand:<task>-<surface digest>`): base + one layer with the surface.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from afr_box.sandbox.errors import BaseImageMissingError, SandboxError
from afr_box.tasks.shared.hashing import hash_tree, sha256_file, tree_digest
from afr_box.sandbox.provider import ImageInfo, SandboxProvider

REPO_ROOT = Path(__file__).resolve().parents[1]
HARNESS_FOLDERS = ("orchestrator", "sandbox", "profiles", "policies", "tasks", "reports")
OS_IMAGE = "afr-os:bookworm"
RUNTIME_REQUIREMENTS = ("torch==2.13.0", "nvflare==2.9.0", "numpy", "pyyaml", "pydantic")
LABEL_PREFIX = "afr."

Progress = Callable[[str], None]


def cache_dir() -> Path:
    path = Path(os.environ.get("AFR_CACHE", Path.home() / ".cache" / "afr-box"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def harness_digest() -> str:
    """Digest of everything that goes into the base image besides the OS."""
    files: dict[str, str] = {}
    for folder in HARNESS_FOLDERS:
        for rel, digest in hash_tree(REPO_ROOT / folder).items():
            if "__pycache__" not in rel and not rel.endswith(".pyc"):
                files[f"{folder}/{rel}"] = digest
    files["Dockerfile.base"] = sha256_file(REPO_ROOT / "Dockerfile.base")
    files["requirements"] = "\n".join(RUNTIME_REQUIREMENTS)
    for extra in ("pyproject.toml", "setup.py"):
        files[extra] = sha256_file(REPO_ROOT / extra)
    return tree_digest(files)


def base_tag(os_image: str = OS_IMAGE) -> str:
    return f"afr-base:{tree_digest({'harness': harness_digest(), 'os': os_image})[:16]}"


def candidate_tag(task: str, surface_hash: str) -> str:
    return f"afr-cand:{task}-{surface_hash[:16]}"


def find_base(provider: SandboxProvider, os_image: str = OS_IMAGE) -> ImageInfo:
    info = provider.image_info(base_tag(os_image))
    if info is None:
        raise BaseImageMissingError(
            f"base image {base_tag(os_image)} for this harness is not built; run `afr-box image build` first"
        )
    return info


def make_os_image(provider: SandboxProvider, progress: Progress = print, suite: str = "bookworm") -> ImageInfo:
    """Debootstrap a minimal Debian with python3 and import it as `afr-os:<suite>` (root only)."""
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed: `apt-get install -y debootstrap`, or pass --base-image")
    work = Path(tempfile.mkdtemp(prefix="afr-os-", dir=cache_dir()))
    try:
        rootfs = work / "rootfs"
        progress(f"debootstrap {suite} (about a minute)...")
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip,ca-certificates",
             suite, str(rootfs), "http://deb.debian.org/debian"],
            check=True, stdout=subprocess.DEVNULL,
        )
        tarball = work / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        repo, tag = f"afr-os:{suite}".split(":")
        provider.import_rootfs(tarball, repo, tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return provider.image_info(f"afr-os:{suite}")


def stage_wheelhouse(dest: Path, progress: Progress = print) -> Path:
    """Download the runtime wheels once (cached); the image build then needs no network."""
    cached = cache_dir() / "wheelhouse"
    req = "\n".join(RUNTIME_REQUIREMENTS) + "\n"
    if not (cached / "requirements.txt").is_file() or (cached / "requirements.txt").read_text() != req:
        progress("downloading the runtime wheelhouse (torch, nvflare; cached afterwards)...")
        shutil.rmtree(cached, ignore_errors=True)
        cached.mkdir(parents=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(cached), *RUNTIME_REQUIREMENTS],
                       check=True)
        (cached / "requirements.txt").write_text(req)
    shutil.copytree(cached, dest)
    return dest


def build_harness_wheel(dest: Path) -> Path:
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Build from a clean copy so no local build/ or egg-info leaks into the wheel.
        src = Path(tmp) / "src"
        shutil.copytree(REPO_ROOT, src, ignore=shutil.ignore_patterns(
            ".git", "runs", "afr-data", ".afr-cache", "build", "dist", "*.egg-info", "__pycache__", "tests"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(dest), str(src)], check=True)
    return dest


def build_base(provider: SandboxProvider, os_image: str = OS_IMAGE, progress: Progress = print,
               force: bool = False) -> ImageInfo:
    tag = base_tag(os_image)
    existing = provider.image_info(tag)
    if existing and not force:
        progress(f"base image {tag} is up to date ({existing.id[:19]})")
        return existing
    if provider.image_info(os_image) is None:
        if os_image != OS_IMAGE:
            raise SandboxError(f"base OS image {os_image} not found locally: pull or build it first")
        progress(f"{OS_IMAGE} not found: making it locally")
        make_os_image(provider, progress)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        context = Path(tmp)
        shutil.copy(REPO_ROOT / "Dockerfile.base", context / "Dockerfile.base")
        stage_wheelhouse(context / "wheelhouse", progress)
        build_harness_wheel(context / "harness")
        progress(f"building {tag} from {os_image} (no network)...")
        image_id = provider.build_image(
            context, "Dockerfile.base", tag, buildargs={"BASE_IMAGE": os_image},
            labels={f"{LABEL_PREFIX}kind": "base", f"{LABEL_PREFIX}harness": harness_digest(),
                    f"{LABEL_PREFIX}os-image": os_image},
        )
    progress(f"built {tag} ({image_id[:19]})")
    return provider.image_info(image_id)


def build_candidate(provider: SandboxProvider, snapshot: Path, task: str, surface_hash: str,
                    base: ImageInfo, labels: dict[str, str]) -> tuple[ImageInfo, bool]:
    """Build (or reuse) the candidate image; returns (image, built_now)."""
    tag = candidate_tag(task, surface_hash)
    existing = provider.image_info(tag)
    if existing and existing.labels.get(f"{LABEL_PREFIX}base-id") == base.id \
            and existing.labels.get(f"{LABEL_PREFIX}surface-hash") == surface_hash:
        return existing, False
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        context = Path(tmp)
        shutil.copy(REPO_ROOT / "Dockerfile.candidate", context / "Dockerfile.candidate")
        shutil.copytree(snapshot, context / "surface")
        for p in (context / "surface").rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        image_id = provider.build_image(
            context, "Dockerfile.candidate", tag, buildargs={"BASE_IMAGE": base.id},
            labels={**labels, f"{LABEL_PREFIX}kind": "candidate", f"{LABEL_PREFIX}task": task,
                    f"{LABEL_PREFIX}surface-hash": surface_hash, f"{LABEL_PREFIX}base-id": base.id},
        )
    return provider.image_info(image_id), True
