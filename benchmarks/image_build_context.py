"""What `afr-box image build` copies and sends, and how long it takes: today's staging against the
one of commit 3e035c2 (before the house change), in one run on this checkout (its .venv included).

    python benchmarks/image_build_context.py

3e035c2 built the harness wheel from a copy of the whole checkout (`shutil.copytree(REPO_ROOT, ...)`
with only .git, runs, afr-data, build, dist, egg-info, __pycache__ and tests left out: the .venv
came along, its lib64 link followed). Today only HARNESS_SOURCES are staged. Both contexts are then
built with the same Dockerfile.base under private tags (removed afterwards): the figures are the
temporary copy, the docker context, the wheel, and the seconds of each step.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from afr_box.orchestrator.campaign.cleanup import tree_size
from afr_box.sandbox.images import OS_IMAGE, REPO_ROOT, build_harness_wheel, cache_dir, stage_wheelhouse
from afr_box.sandbox.providers import local_sandbox

OLD_IGNORE = (".git", "runs", "afr-data", ".afr-cache", "build", "dist", "*.egg-info", "__pycache__", "tests")


def old_harness_wheel(dest: Path) -> int:
    """3e035c2's build_harness_wheel; returns the bytes of its temporary copy of the checkout."""
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(REPO_ROOT, src, ignore=shutil.ignore_patterns(*OLD_IGNORE))
        copied = tree_size(src)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(dest), str(src)], check=True)
    return copied


def new_harness_wheel(dest: Path) -> int:
    staged = sum(tree_size(REPO_ROOT / s) for s in ("sandbox/__init__.py", "sandbox/harness", "tasks"))
    build_harness_wheel(dest)
    return staged


def measure(name: str, make_wheel) -> dict:
    images = local_sandbox().images
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        context = Path(tmp)
        start = time.monotonic()
        shutil.copy(REPO_ROOT / "Dockerfile.base", context / "Dockerfile.base")
        stage_wheelhouse(context / "wheelhouse", progress=lambda m: None)
        copied = make_wheel(context / "harness")
        staged_s = time.monotonic() - start
        wheel = tree_size(context / "harness")
        sent = tree_size(context)
        tag = f"afr-truth-context-bench:{name}"
        start = time.monotonic()
        image_id = images.build_image(context, "Dockerfile.base", tag, {"BASE_IMAGE": OS_IMAGE, "VENV_FLAGS": ""},
                                      {"afr.kind": "bench-context"})
        build_s = time.monotonic() - start
    images.remove_image(image_id)
    return {"name": name, "temporary_copy_bytes": copied, "context_bytes": sent, "wheel_bytes": wheel,
            "stage_s": staged_s, "docker_build_s": build_s}


def main() -> None:
    venv = tree_size(REPO_ROOT / ".venv") if (REPO_ROOT / ".venv").exists() else 0
    print(f"checkout {REPO_ROOT}: .venv {venv / 2**20:.0f} MB")
    rows = [measure("3e035c2", old_harness_wheel), measure("today", new_harness_wheel)]
    mb = lambda b: f"{b / 2**20:9.1f}"
    print(f"{'staging':<10}{'temp copy MB':>14}{'context MB':>12}{'wheel MB':>10}{'stage s':>9}{'build s':>9}"
          f"{'total s':>9}")
    for r in rows:
        print(f"{r['name']:<10}{mb(r['temporary_copy_bytes']):>14}{mb(r['context_bytes']):>12}"
              f"{mb(r['wheel_bytes']):>10}{r['stage_s']:9.1f}{r['docker_build_s']:9.1f}"
              f"{r['stage_s'] + r['docker_build_s']:9.1f}")
    old, new = rows
    print(f"ratio today/3e035c2: temporary copy {new['temporary_copy_bytes'] / old['temporary_copy_bytes']:.4f}, "
          f"total time {(new['stage_s'] + new['docker_build_s']) / (old['stage_s'] + old['docker_build_s']):.2f}")


if __name__ == "__main__":
    main()
