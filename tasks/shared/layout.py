"""Fixed and mutable task code, told apart by place.

Every `surface/` folder under `tasks/` is mutable: it is what a policy may open to a candidate
(client script, job, registered models, knobs; shared aggregators and training helpers).
Everything else under `tasks/` is fixed (data bridges, predict steps, the metric registry, the
prepared-data layout) and reaches a container only from the base image.

Surface paths, as policies, snapshots, candidate images and the import view spell them, leave
the `surface/` part out: `heart/client.py` is `tasks/heart/surface/client.py` and
`shared/aggregators.py` is `tasks/shared/surface/aggregators.py`. So a candidate's modules
import each other by short names (`models`, `shared.aggregators`), and a policy glob can only
ever name a file inside a surface folder.
"""
from __future__ import annotations

from pathlib import Path

import afr_box.tasks

TASKS_DIR = Path(afr_box.tasks.__file__).resolve().parent
SURFACE = "surface"
SHARED = "shared"  # the surface folder every task's candidates share (aggregators, training helpers)
_NOT_SURFACE = ("__init__.py",)


def surface_folders(task: str) -> tuple[str, str]:
    """The top-level folders of a task's surface paths."""
    return task, SHARED


def surface_root(folder: str) -> Path:
    """Where surface paths `<folder>/...` live in the repository."""
    return TASKS_DIR / folder / SURFACE


def repo_file(rel: str) -> Path:
    """The repository file of surface path `rel` (`heart/client.py` -> tasks/heart/surface/client.py)."""
    folder, _, rest = rel.partition("/")
    return surface_root(folder) / rest


def baseline_files(task: str) -> dict[str, Path]:
    """Every baseline surface file of `task` (and the shared surface): surface path -> file."""
    found = {}
    for folder in surface_folders(task):
        root = surface_root(folder)
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and "__pycache__" not in rel and path.name not in _NOT_SURFACE:
                found[f"{folder}/{rel}"] = path
    return found
