"""Making a candidate's task code importable (in a container, or bare on the host).

The effective task code is the base image's copy of the baseline surface (`tasks/<task>/surface/`
and `tasks/shared/surface/`, see tasks/shared/layout.py) overlaid by the candidate's surface
snapshot: surface files the policy does not open always come from the base. The merged view is
assembled under a writable work folder; its task folder and root go first on the import path of this process and, through
PYTHONPATH, of every NVFlare process started from it (surface modules import each other by
short names: `models`, `shared.aggregators`).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

from afr_box.tasks.shared.layout import surface_folders, surface_root

_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py")


def build_view(surface: Path, task: str, view: Path) -> Path:
    shutil.rmtree(view, ignore_errors=True)
    for folder in surface_folders(task):
        shutil.copytree(surface_root(folder), view / folder, ignore=_SKIP)
    shutil.copytree(surface, view, dirs_exist_ok=True)
    return view


def activate(surface: Path, task: str, view: Path) -> Path:
    view = build_view(surface, task, view)
    paths = [str(view / task), str(view)]
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    existing = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([existing] if existing else []))
    os.environ["AFR_SURFACE"] = str(view)
    return view


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
