"""The layer contract: written for import-linter in pyproject.toml, checked here on every run, so
a later change cannot reintroduce a cycle (sandbox <-> orchestrator, tasks -> sandbox, ...).

import-linter walks a package's own folder, and `afr_box` (a regular package: its __init__ holds
the public API's names) maps its sub-packages onto the repository's folders; so the check runs on
a staged tree that lays them out as the installed package is (afr_box/<folder>/...)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("orchestrator", "sandbox", "tasks", "profiles", "policies", "reports", "security")
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path, pythonpath: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True)


def staged(tmp: Path) -> Path:
    """The package as installed: afr_box/__init__.py and afr_box/<folder>/ for every mapped folder."""
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, tmp / "afr_box" / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "afr_box" / "__init__.py", tmp / "afr_box" / "__init__.py")
    shutil.copyfile(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def test_the_repository_keeps_every_layer_contract(tmp_path):
    done = lint(staged(tmp_path), pythonpath=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 kept, 0 broken" in done.stdout


def test_a_sandbox_module_importing_the_campaign_breaks_the_contract(tmp_path):
    """The contract is not vacuous: the same check on a copy where the sandbox imports the campaign
    loop fails and names the import."""
    staged(tmp_path)
    with open(tmp_path / "afr_box" / "sandbox" / "images.py", "a") as f:
        f.write("\nimport afr_box.orchestrator.campaign.loop  # a cycle\n")
    done = lint(tmp_path, pythonpath=str(tmp_path))
    assert done.returncode != 0
    assert "the sandbox knows no campaign" in done.stdout and "BROKEN" in done.stdout
    assert "afr_box.sandbox.images -> afr_box.orchestrator.campaign.loop" in done.stdout


def test_the_python_api_rendering_breaks_its_contract(tmp_path):
    """afr_box.load_campaign only reads: an API module that imports the report renderer is refused."""
    staged(tmp_path)
    with open(tmp_path / "afr_box" / "reports" / "api.py", "a") as f:
        f.write("\nimport afr_box.reports.report  # renders\n")
    done = lint(tmp_path, pythonpath=str(tmp_path))
    assert done.returncode != 0 and "the Python API (afr_box.load_campaign) only reads records" in done.stdout
