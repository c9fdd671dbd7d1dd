"""Maps the design card's top-level folders onto the `afr_box.*` import namespace.

Each folder below becomes `afr_box.<folder>` together with its sub-packages, in wheels and
editable installs alike; `afr_box/__init__.py` (the public API's names: `afr_box.load_campaign`)
is the package itself. A folder that is absent is skipped: the base image's harness wheel is
built from a staged tree holding only sandbox/harness/ and tasks/ (sandbox/images.py), where
`afr_box` stays a namespace package.
"""
from pathlib import Path

from setuptools import find_packages, setup

FOLDERS = ["orchestrator", "sandbox", "profiles", "policies", "tasks", "reports", "security"]

packages, package_dir = [], {}
if Path("afr_box/__init__.py").is_file():
    packages.append("afr_box")
    package_dir["afr_box"] = "afr_box"
for folder in (f for f in FOLDERS if Path(f).is_dir()):
    for sub in [""] + find_packages(folder):
        name = f"afr_box.{folder}" + (f".{sub}" if sub else "")
        packages.append(name)
        package_dir[name] = folder + ("/" + sub.replace(".", "/") if sub else "")

setup(packages=packages, package_dir=package_dir)
