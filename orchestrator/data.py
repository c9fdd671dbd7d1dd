"""Where prepared data lives and how a task's data bridge is called."""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Optional

from afr_box.profiles.schema import Profile
from afr_box.tasks.shared.prepared import DataNotPreparedError, check_present


def default_data_root() -> Path:
    return Path(os.environ.get("AFR_DATA_ROOT", "afr-data"))


def bridge_of(profile: Profile):
    return importlib.import_module(f"afr_box.tasks.{profile.task}.{profile.data.bridge}")


def prepare_task(profile: Profile, data_root: Path, source: Optional[Path], download: bool,
                 extra_options: Optional[dict] = None) -> Path:
    """Run the task's bridge. `extra_options` (from `data prepare --option`) add to the
    profile's data options, e.g. a pretrained-weights file; the bridge rejects unknown ones."""
    # Bridges group or check their sites against the budget's client count.
    options = {**profile.data.options, **(extra_options or {}), "num_clients": profile.budget.clients}
    data_root.mkdir(parents=True, exist_ok=True)
    return bridge_of(profile).prepare(data_root / profile.task, source=source, download=download, options=options)


def how_to_get(profile: Profile) -> str:
    """The bridge's own one-line instructions for obtaining the raw data (its SOURCE_HINT)."""
    hint = getattr(bridge_of(profile), "SOURCE_HINT", "")
    return hint or f"afr-box data prepare {profile.task} --source DIR"


def data_status(profile: Profile, data_root: Path) -> str:
    try:
        check_present(data_root / profile.task)  # cheap; campaigns and audit re-hash in full
        return "ready"
    except DataNotPreparedError as exc:
        return f"missing ({exc})" if (data_root / profile.task).exists() else "missing"
