"""Data folders for the site-isolation tests (test_sites.py, test_preload.py): one per site and an
`assets` folder beside them, each holding an x.npy whose text is its folder's name, so a read shows
whose data it got."""
from __future__ import annotations

from pathlib import Path


def site_folders(root: Path, sites: list[str]) -> Path:
    for name in (*sites, "assets"):
        (root / name).mkdir(parents=True)
        (root / name / "x.npy").write_text(name)
    return root
