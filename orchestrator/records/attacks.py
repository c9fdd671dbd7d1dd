"""Where an attack-suite run keeps its verdicts (read by reports without importing the suite)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from afr_box.orchestrator.records.files import read_json_or

RESULTS = "attacks.json"


def suite_name(policy: str, task: str) -> str:
    return f"attacks-{policy}-{task}"


def load_results(runs_dir: Path, policy: str, task: str) -> Optional[dict]:
    return read_json_or(Path(runs_dir) / suite_name(policy, task) / RESULTS, None)
