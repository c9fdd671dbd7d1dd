"""What a jailed agent may read of its campaign's candidate records: a copy, refreshed after each `try`.

The jail never sees `runs/<campaign>/` itself. It sees `agents/<session>/view/candidates/<id>/`
(mounted read-only at /campaign/candidates): each record's surface, diff, gate verdict, timings,
resources, proposal and row record, and its training log and statistics. Never copied: what the
inference container wrote (`infer/`, `infer.log`: it reads the test inputs, so a candidate could
print them there) and the scorer's folder and log (it reads the test labels); files larger than
MAX_FILE_BYTES (model weights) are left out too. Only regular files are copied (no link is followed).
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from afr_box.orchestrator.records.layout import CampaignFolder

HIDDEN = ("infer", "infer.log", "score", "score.log", "run-infer.json", "run-score.json")
MAX_FILE_BYTES = 4 * 1024 * 1024


def _copy_record(source: Path, dest: Path) -> None:
    for root, dirs, files in os.walk(source):
        rel = Path(root).relative_to(source)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in HIDDEN]
            files = [f for f in files if f not in HIDDEN]
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            path = Path(root) / name
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES:
                shutil.copyfile(path, dest / rel / name)


def refresh_view(campaign: CampaignFolder, view: Path) -> int:
    """Copy the records not in `view` yet (a record is final once its row is logged); how many."""
    source = campaign.path / "candidates"
    view.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return 0
    logged = {row.candidate for row in _rows(campaign)}
    added = 0
    for record in sorted(source.iterdir()):
        if record.name in logged and record.is_dir() and not (view / record.name).exists():
            tmp = view / f".{record.name}.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            _copy_record(record, tmp)
            tmp.rename(view / record.name)
            added += 1
    return added


def _rows(campaign: CampaignFolder):
    from afr_box.orchestrator.records.runlog import RunLog

    return RunLog(campaign.results).rows() if campaign.results.is_file() else []
