"""Shared fixtures: the real data beside the repository, a real Docker engine, the base image."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEART_SOURCE = SHARED_DATA / "flamby" / "fed_heart_disease"


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


def pytest_collection_modifyitems(items):
    for item in items:
        if "sandbox" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)
