"""Tests read a prepared part whole, to compare it with what a bridge should have written."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def load_part(folder: Path) -> dict[str, np.ndarray]:
    """Every array of one site's part folder (train/site-N, test_inputs/site-N, ...), in memory."""
    return {p.stem: np.load(p, allow_pickle=False) for p in sorted(Path(folder).glob("*.npy"))}


def site_of(folder: Path, **arrays: np.ndarray):
    """A SiteData over the given arrays, saved as a prepared part folder (for predict steps)."""
    from afr_box.tasks.shared.prepared import SiteData

    Path(folder).mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        np.save(Path(folder) / f"{name}.npy", a, allow_pickle=False)
    return SiteData(folder)
