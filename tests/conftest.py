"""Shared fixtures: the real data beside the repository, a real Docker engine, the base image.

On a developer's partial machine a test whose prerequisite is missing (the real data in
../shared/data, ray, Debian's docker-registry) is skipped with the reason. In CI (`CI` set to
anything but 0/false/no) a missing prerequisite fails the run before any test, one line each, and
any skip left is a failure: a thinned suite must not pass.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEART_SOURCE = SHARED_DATA / "flamby" / "fed_heart_disease"
# What the suite needs besides a Docker engine, and how to get it.
PREREQUISITES = {
    "real FLamby Fed-Heart-Disease data": (lambda: HEART_SOURCE.is_dir(), f"expected at {HEART_SOURCE}"),
    "real FLamby Fed-TCGA-BRCA data": (lambda: (SHARED_DATA / "flamby" / "fed_tcga_brca").is_dir(),
                                       f"expected at {SHARED_DATA / 'flamby' / 'fed_tcga_brca'}"),
    "real LEAF FEMNIST sample": (lambda: (SHARED_DATA / "leaf" / "femnist").is_dir(),
                                 f"expected at {SHARED_DATA / 'leaf' / 'femnist'}"),
    "ray (the cluster extra)": (lambda: importlib.util.find_spec("ray") is not None,
                                "pip install -e '.[cluster]' (scripts/setup-host.sh does it)"),
    "Debian's docker-registry": (lambda: shutil.which("docker-registry") is not None,
                                 "apt-get install -y docker-registry (scripts/setup-host.sh does it)"),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_prerequisites() -> list[str]:
    return [f"{name}: {how}" for name, (present, how) in PREREQUISITES.items() if not present()]


def pytest_sessionstart(session):
    if in_ci() and not hasattr(session.config, "workerinput"):  # the controller, once
        missing = missing_prerequisites()
        if missing:
            pytest.exit("CI: missing prerequisite(s), the suite would only be thinned by skips:\n  "
                        + "\n  ".join(missing), returncode=3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome, report.longrepr = "failed", f"skipped in CI (a prerequisite is missing): {reason}"


def pytest_collectreport(report):
    if in_ci() and report.skipped:  # a whole module skipped at import (pytest.importorskip)
        report.outcome = "failed"


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A prepared-data root holding heart (from ../shared/data) and synthetic (generated)."""
    from afr_box.orchestrator.data import prepare_task
    from afr_box.profiles.schema import load_profile

    root = tmp_path_factory.mktemp("afr-data")
    prepare_task(load_profile("synthetic"), root, None, False)
    if HEART_SOURCE.is_dir():
        prepare_task(load_profile("heart"), root, HEART_SOURCE, False)
    return root


@pytest.fixture(scope="session")
def heart_ready(data_root) -> Path:
    if not (data_root / "heart").is_dir():
        pytest.skip(f"real heart data not available at {HEART_SOURCE}")
    return data_root


@pytest.fixture(scope="session")
def sandbox():
    """The real Docker engine (images and executor) with the base image for this harness (built
    here if missing)."""
    from afr_box.sandbox.images import build_base
    from afr_box.sandbox.providers import local_sandbox

    local = local_sandbox()  # raises EngineUnavailableError with how to start it
    build_base(local.images, progress=lambda m: None)
    return local


# The longest test files first, as CI measured them (pytest --durations; seconds, rounded): with
# `--dist loadfile` on two workers the last file to start sets the wall time, so the long
# end-to-end files go out first and the many short unit files fill in behind them
# (scripts/test.sh turns off xdist's own order, which puts files with the most tests first).
LONGEST_FIRST = {
    "test_security_e2e.py": 700, "test_resume_e2e.py": 400, "test_agents_e2e.py": 300,
    "test_campaign_e2e.py": 250, "test_cluster_e2e.py": 200, "test_parallel_e2e.py": 120,
    "test_repeats_e2e.py": 100, "test_bench_e2e.py": 90, "test_finish_e2e.py": 90,
    "test_base_image_e2e.py": 80, "test_heldout.py": 80, "test_jail_e2e.py": 70, "test_reports_e2e.py": 60,
    "test_cleanup_e2e.py": 60, "test_signals_e2e.py": 50, "test_mechanisms_e2e.py": 50,
    "test_bad_candidates_e2e.py": 45, "test_try_e2e.py": 45, "test_scale_memory.py": 40,
}


def pytest_collection_modifyitems(items):
    for item in items:
        if "sandbox" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)
    # stable: a file's tests keep their order, files not named keep theirs, after the named ones
    items.sort(key=lambda item: -LONGEST_FIRST.get(item.path.name, 0))
