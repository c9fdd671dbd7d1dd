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

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Optional

from afr_box.sandbox.errors import BaseImageMissingError, SandboxError
from afr_box.sandbox.provider import ImageInfo, ImageStore
from afr_box.tasks.shared.hashing import hash_tree, sha256_file, tree_digest

REPO_ROOT = Path(__file__).resolve().parents[1]
# What the base image holds of afr-box: the in-container harness and the fixed task code.
HARNESS_SOURCES = ("sandbox/__init__.py", "sandbox/harness", "tasks")
OS_IMAGE = "afr-os:bookworm"
# The image bases are built on, for `image build` and every campaign alike (e.g. a CUDA PyTorch image).
BASE_IMAGE_ENV = "AFR_BASE_IMAGE"
RUNTIME_REQUIREMENTS = ("torch==2.13.0", "nvflare==2.9.0", "numpy", "pyyaml", "pydantic")
LABEL_PREFIX = "afr."
# The in-container interface of bases built from this code (phase module paths, mounts, run file).
# A base without the label predates it (api 1: modules directly under afr_box.sandbox). Api 3: the
# prepared data is one folder per site of memory-mapped .npy files (api 1 and 2 read one .npz per site).
HARNESS_API = "3"
LAZY_DATA_API = 3  # the first api whose harness reads the per-site .npy layout
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


def default_os_image() -> str:
    return os.environ.get(BASE_IMAGE_ENV) or OS_IMAGE


def base_tag(os_image: Optional[str] = None) -> str:
    # The api is in the tag too: a new in-container interface over unchanged harness files must not
    # find the old base (whose api label would be stale).
    os_image = os_image or default_os_image()
    return f"afr-base:{tree_digest({'harness': harness_digest(), 'os': os_image, 'api': HARNESS_API})[:16]}"


def candidate_tag(task: str, surface_hash: str) -> str:
    return f"afr-cand:{task}-{surface_hash[:16]}"


def harness_api(base: ImageInfo) -> str:
    """The in-container interface of a base image (see HARNESS_API)."""
    return base.labels.get(HARNESS_API_LABEL, "1")


def find_base(images: ImageStore, os_image: Optional[str] = None) -> ImageInfo:
    os_image = os_image or default_os_image()
    info = images.image_info(base_tag(os_image))
    if info is None:
        how = "`afr-box image build`" + (f" (with {BASE_IMAGE_ENV}={os_image})" if os_image != OS_IMAGE else "")
        raise BaseImageMissingError(f"base image {base_tag(os_image)} for this harness on {os_image} is not built; "
                                    f"run {how} first")
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


def stage_wheelhouse(dest: Path, progress: Progress = print,
                     requirements: tuple[str, ...] = RUNTIME_REQUIREMENTS) -> Path:
    """Download the runtime wheels once (cached per requirement set); the image build then needs no network."""
    name = "wheelhouse" if requirements == RUNTIME_REQUIREMENTS else \
        f"wheelhouse-{tree_digest({'text': chr(10).join(requirements)})[:12]}"
    cached = cache_dir() / name
    req = "\n".join(requirements) + "\n"
    if not (cached / "requirements.txt").is_file() or (cached / "requirements.txt").read_text() != req:
        progress(f"downloading the runtime wheelhouse ({', '.join(requirements)}; cached afterwards)...")
        shutil.rmtree(cached, ignore_errors=True)
        cached.mkdir(parents=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(cached), *requirements], check=True)
        (cached / "requirements.txt").write_text(req)
    shutil.copytree(cached, dest)
    return dest


# What a base needs to know of the image it is built on, and what its venv ends up running.
PROBE = ("import importlib.util, json, sys; s = importlib.util.find_spec('torch'); "
         "print('AFR-PROBE', json.dumps(['%d.%d' % sys.version_info[:2], __import__('torch').__version__ if s else '', "
         "s.origin if s else '']))")
TORCH_LABEL, TORCH_SOURCE_LABEL = f"{LABEL_PREFIX}torch", f"{LABEL_PREFIX}torch-source"


def image_runtime(images: ImageStore, image: str, python: str = "python3") -> tuple[str, str, str]:
    """(Python version, torch version or "", where torch is imported from) inside `image`."""
    code, out = images.probe(image, [python, "-c", PROBE])
    found = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("AFR-PROBE ")]
    if code != 0 or not found:
        raise SandboxError(f"cannot run {python} in {image} (exit {code}): {out.strip()[-300:]}; a base image "
                           "needs python3 with the venv module")
    python_version, torch, origin = json.loads(found[-1])
    return python_version, torch, origin


def _torch_wheel_version(wheelhouse: Path) -> str:
    found = sorted(wheelhouse.glob("torch-*.whl"))
    return found[0].name.split("-")[1] if found else ""


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


def build_base(images: ImageStore, os_image: Optional[str] = None, progress: Progress = print,
               force: bool = False) -> ImageInfo:
    os_image = os_image or default_os_image()
    tag = base_tag(os_image)
    existing = images.image_info(tag)
    if existing and not force:
        progress(f"base image {tag} is up to date ({existing.id[:19]})")
        return existing
    if images.image_info(os_image) is None:
        if os_image != OS_IMAGE:
            raise SandboxError(f"base OS image {os_image} not found locally: `docker pull {os_image}` (or build "
                               "it) first; the build itself never pulls")
        progress(f"{OS_IMAGE} not found: making it locally")
        make_os_image(images, progress)
    python, own_torch, _ = image_runtime(images, os_image)
    host = "%d.%d" % sys.version_info[:2]
    if python != host:
        raise SandboxError(f"{os_image} runs Python {python}, this afr-box Python {host}: the wheelhouse is "
                           f"downloaded for the host's Python, so run afr-box from a Python {python} environment "
                           f"or build on a Python {host} image")
    # An image with a torch of its own (a CUDA PyTorch image) keeps it: no torch in the wheelhouse,
    # and a venv that sees the image's packages.
    requirements = tuple(r for r in RUNTIME_REQUIREMENTS if not r.startswith("torch")) if own_torch \
        else RUNTIME_REQUIREMENTS
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        context = Path(tmp)
        shutil.copy(REPO_ROOT / "Dockerfile.base", context / "Dockerfile.base")
        stage_wheelhouse(context / "wheelhouse", progress, requirements)
        build_harness_wheel(context / "harness")
        torch = own_torch or _torch_wheel_version(context / "wheelhouse")
        progress(f"building {tag} from {os_image} (no network; torch {torch} from "
                 f"{'the image' if own_torch else 'the wheelhouse'})...")
        image_id = images.build_image(
            context, "Dockerfile.base", tag,
            buildargs={"BASE_IMAGE": os_image, "VENV_FLAGS": "--system-site-packages" if own_torch else ""},
            labels={f"{LABEL_PREFIX}kind": "base", f"{LABEL_PREFIX}harness": harness_digest(),
                    f"{LABEL_PREFIX}os-image": os_image, HARNESS_API_LABEL: HARNESS_API, TORCH_LABEL: torch,
                    TORCH_SOURCE_LABEL: "base-image" if own_torch else "wheelhouse"},
        )
    _check_one_torch(images, image_id, tag, torch, bool(own_torch))
    progress(f"built {tag} ({image_id[:19]})")
    return images.image_info(image_id)


def _check_one_torch(images: ImageStore, image_id: str, tag: str, torch: str, from_image: bool) -> None:
    """The built base's venv imports the torch its labels name, from where they say (one torch only)."""
    _, found, origin = image_runtime(images, image_id, python="/opt/afr/bin/python")
    in_venv = origin.startswith("/opt/afr/")
    if found != torch or in_venv == from_image:
        raise SandboxError(f"{tag}: its venv imports torch {found or 'none'} from {origin or '-'}, expected torch "
                           f"{torch} from {'the base image' if from_image else 'the wheelhouse'}")


def candidate_context(files: dict[str, bytes]) -> bytes:
    """The candidate build context as an in-memory tar: Dockerfile.candidate and surface/<path> for
    exactly these bytes (root-owned, 0644/0755, time 0), so what is built is what was gated."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, data: Optional[bytes]) -> None:
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid = 0, 0, 0
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))

        add("Dockerfile.candidate", (REPO_ROOT / "Dockerfile.candidate").read_bytes())
        folders = {"surface"} | {"surface/" + "/".join(rel.split("/")[:i])
                                 for rel in files for i in range(1, rel.count("/") + 1)}
        for folder in sorted(folders):
            add(folder, None)
        for rel in sorted(files):
            add(f"surface/{rel}", files[rel])
    return buffer.getvalue()


def build_candidate(images: ImageStore, files: dict[str, bytes], task: str, surface_hash: str,
                    base: ImageInfo, labels: dict[str, str]) -> tuple[ImageInfo, bool]:
    """Build (or reuse) the candidate image from the gated bytes; returns (image, built_now)."""
    tag = candidate_tag(task, surface_hash)
    existing = images.image_info(tag)
    if existing and existing.labels.get(f"{LABEL_PREFIX}base-id") == base.id \
            and existing.labels.get(f"{LABEL_PREFIX}surface-hash") == surface_hash:
        return existing, False
    image_id = images.build_image(
        candidate_context(files), "Dockerfile.candidate", tag, buildargs={"BASE_IMAGE": base.id},
        labels={**labels, f"{LABEL_PREFIX}kind": "candidate", f"{LABEL_PREFIX}task": task,
                f"{LABEL_PREFIX}surface-hash": surface_hash, f"{LABEL_PREFIX}base-id": base.id},
    )
    return images.image_info(image_id), True
