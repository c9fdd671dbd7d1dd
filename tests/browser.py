"""A real headless Chromium (Debian's `chromium`, installed by scripts/setup-host.sh) for looking at
report.html as a reader's browser renders it: a screenshot, and the DOM after the page loaded
(so a script that ran, or markup that should have been text, shows in it)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: run scripts/setup-host.sh (it installs Debian's chromium)")
    return found


def _run(page: Path, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="agent-chromium-") as profile:  # a fresh profile every time
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=180)


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 12000) -> Path:
    """A screenshot of the page in a window tall enough for the whole report."""
    done = _run(page, f"--screenshot={out}", f"--window-size={width},{height}")
    assert out.is_file() and out.stat().st_size > 1000, done.stderr[-2000:]
    return out


def dom(page: Path) -> str:
    done = _run(page, "--dump-dom", "--virtual-time-budget=3000")
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout
