"""Base and candidate images, with content-addressed tags computed in one place.

- OS image (`afr-os:bookworm`): made locally with debootstrap + import when no registry is
  reachable; users with a registry pass any Python 3.11 image (or a CUDA PyTorch one).
- Base image (`afr-base:<harness digest>`): OS + wheelhouse (torch, nvflare) + the harness wheel,
  which holds only what runs inside containers: `sandbox/harness/` (init, runner, infer, scorer)
  and the fixed task code `tasks/`. Its tag changes when those files, the Dockerfile or the
  runtime requirements do, and not when host-side code (orchestrator, reports, providers) does.
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
from afr_box.sandbox.provider import ImageInfo, ImageStore
from afr_box.tasks.shared.hashing import hash_tree, sha256_file, tree_digest

REPO_ROOT = Path(__file__).resolve().parents[1]
# What the base image holds of afr-box: the in-container harness and the fixed task code.
HARNESS_SOURCES = ("sandbox/__init__.py", "sandbox/harness", "tasks")
OS_IMAGE = "afr-os:bookworm"
RUNTIME_REQUIREMENTS = ("torch==2.13.0", "nvflare==2.9.0", "numpy", "pyyaml", "pydantic")
LABEL_PREFIX = "afr."
# The in-container interface of bases built from this code (phase module paths, mounts, run file).
# A base without the label predates it (api 1: modules directly under afr_box.sandbox).
HARNESS_API = "2"
HARNESS_API_LABEL = f"{LABEL_PREFIX}harness-api"
# The harness wheel's own project file: no dependencies (the wheelhouse brings them), no scripts.
HARNESS_PYPROJECT = """[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "afr-box-harness"
version = "0.1.0"
description = "afr-box's in-container harness and fixed task code"
requires-python = ">=3.10"

[tool.setuptools.package-data]
"*" = ["*.yaml", "*.md", "templates/*.j2"]
"""

Progress = Callable[[str], None]


def cache_dir() -> Path:
    path = Path(os.environ.get("AFR_CACHE", Path.home() / ".cache" / "afr-box"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def harness_files(root: Path = REPO_ROOT) -> dict[str, str]:
    """sha256 of everything that goes into the base image besides the OS, by path (a campaign
    records this, so a changed base can be explained file by file)."""
    files: dict[str, str] = {}
    for source in HARNESS_SOURCES:
        path = root / source
        found = {"": sha256_file(path)} if path.is_file() else hash_tree(path)
        for rel, digest in found.items():
            if "__pycache__" not in rel and not rel.endswith(".pyc"):
                files[f"{source}/{rel}" if rel else source] = digest
    for extra in ("Dockerfile.base", "setup.py"):
        files[extra] = sha256_file(root / extra)
    files["requirements"] = tree_digest({"text": "\n".join(RUNTIME_REQUIREMENTS)})
    files["pyproject"] = tree_digest({"text": HARNESS_PYPROJECT})
    return files


def harness_digest(root: Path = REPO_ROOT) -> str:
    """Digest of everything that goes into the base image besides the OS."""
    return tree_digest(harness_files(root))


def harness_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The harness files that differ between two `harness_files` manifests (added, removed, changed)."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def base_tag(os_image: str = OS_IMAGE) -> str:
    return f"afr-base:{tree_digest({'harness': harness_digest(), 'os': os_image})[:16]}"


def candidate_tag(task: str, surface_hash: str) -> str:
    return f"afr-cand:{task}-{surface_hash[:16]}"


def harness_api(base: ImageInfo) -> str:
    """The in-container interface of a base image (see HARNESS_API)."""
    return base.labels.get(HARNESS_API_LABEL, "1")


def find_base(images: ImageStore, os_image: str = OS_IMAGE) -> ImageInfo:
    info = images.image_info(base_tag(os_image))
    if info is None:
        raise BaseImageMissingError(
            f"base image {base_tag(os_image)} for this harness is not built; run `afr-box image build` first"
        )
    return info


def make_os_image(images: ImageStore, progress: Progress = print, suite: str = "bookworm") -> ImageInfo:
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
        images.import_rootfs(tarball, repo, tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return images.image_info(f"afr-os:{suite}")


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


def build_harness_wheel(dest: Path, root: Path = REPO_ROOT) -> Path:
    """The wheel of HARNESS_SOURCES only (built from a staged copy, so no host-side module, local
    build/ or egg-info can leak into the base image)."""
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for source in HARNESS_SOURCES:
            path = root / source
            (src / source).parent.mkdir(parents=True, exist_ok=True)
            if path.is_file():
                shutil.copyfile(path, src / source)
            else:
                shutil.copytree(path, src / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copyfile(root / "setup.py", src / "setup.py")
        (src / "pyproject.toml").write_text(HARNESS_PYPROJECT)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(dest), str(src)], check=True)
    return dest


def build_base(images: ImageStore, os_image: str = OS_IMAGE, progress: Progress = print,
               force: bool = False) -> ImageInfo:
    tag = base_tag(os_image)
    existing = images.image_info(tag)
    if existing and not force:
        progress(f"base image {tag} is up to date ({existing.id[:19]})")
        return existing
    if images.image_info(os_image) is None:
        if os_image != OS_IMAGE:
            raise SandboxError(f"base OS image {os_image} not found locally: pull or build it first")
        progress(f"{OS_IMAGE} not found: making it locally")
        make_os_image(images, progress)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        context = Path(tmp)
        shutil.copy(REPO_ROOT / "Dockerfile.base", context / "Dockerfile.base")
        stage_wheelhouse(context / "wheelhouse", progress)
        build_harness_wheel(context / "harness")
        progress(f"building {tag} from {os_image} (no network)...")
        image_id = images.build_image(
            context, "Dockerfile.base", tag, buildargs={"BASE_IMAGE": os_image},
            labels={f"{LABEL_PREFIX}kind": "base", f"{LABEL_PREFIX}harness": harness_digest(),
                    f"{LABEL_PREFIX}os-image": os_image, HARNESS_API_LABEL: HARNESS_API},
        )
    progress(f"built {tag} ({image_id[:19]})")
    return images.image_info(image_id)


def build_candidate(images: ImageStore, snapshot: Path, task: str, surface_hash: str,
                    base: ImageInfo, labels: dict[str, str]) -> tuple[ImageInfo, bool]:
    """Build (or reuse) the candidate image; returns (image, built_now)."""
    tag = candidate_tag(task, surface_hash)
    existing = images.image_info(tag)
    if existing and existing.labels.get(f"{LABEL_PREFIX}base-id") == base.id \
            and existing.labels.get(f"{LABEL_PREFIX}surface-hash") == surface_hash:
        return existing, False
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        context = Path(tmp)
        shutil.copy(REPO_ROOT / "Dockerfile.candidate", context / "Dockerfile.candidate")
        shutil.copytree(snapshot, context / "surface")
        for p in (context / "surface").rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        image_id = images.build_image(
            context, "Dockerfile.candidate", tag, buildargs={"BASE_IMAGE": base.id},
            labels={**labels, f"{LABEL_PREFIX}kind": "candidate", f"{LABEL_PREFIX}task": task,
                    f"{LABEL_PREFIX}surface-hash": surface_hash, f"{LABEL_PREFIX}base-id": base.id},
        )
    return images.image_info(image_id), True
