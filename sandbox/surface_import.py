"""Making a surface snapshot importable (in a container, or bare on the host).

Surface modules import each other by short names (`models`, `shared.aggregators`), so the
task folder and the surface root go first on the import path of this process and, through
PYTHONPATH, of every NVFlare process it starts.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType


def activate(surface: Path, task: str) -> None:
    paths = [str(surface / task), str(surface)]
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    existing = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([existing] if existing else []))
    os.environ["AFR_SURFACE"] = str(surface)


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
