"""What the docs state about the code is what the code does: the task table's parameter counts are
the scorer's counts of each baseline model, and the record layout's docstring names every file."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from afr_box.orchestrator.records import layout
from afr_box.profiles.schema import available_tasks

ROOT = Path(__file__).resolve().parents[1]

# Builds each task's baseline model from its surface (as the runner imports it: by short names) and
# counts what the scorer counts (sandbox/harness/scorer.py count_params: every float array).
COUNT = """
import importlib, json, sys
counts = {}
for task in sys.argv[1:]:
    for name in [m for m in sys.modules if m == "models" or m.startswith("shared")]:
        del sys.modules[name]
    sys.path[:0] = [f"tasks/{task}/surface", "tasks"]
    model = importlib.import_module("models").build_model()
    counts[task] = sum(v.numel() for v in model.state_dict().values() if v.is_floating_point())
    del sys.path[:2]
print(json.dumps(counts))
"""


def readme_counts() -> dict[str, int]:
    counts = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        m = re.match(r"\| `(\w+)` \|[^|]*\|[^|]*\| [^|(]*\(([\d,]+)", line)
        if m:
            counts[m.group(1)] = int(m.group(2).replace(",", ""))
    return counts


def test_the_task_table_gives_the_scorers_parameter_counts():
    shown = readme_counts()
    assert set(shown) == set(available_tasks())
    done = subprocess.run([sys.executable, "-c", COUNT, *sorted(shown)], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == shown


def test_the_record_layout_docstring_names_every_file():
    names = {v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str) and "." in v}
    doc = layout.__doc__
    missing = sorted(n for n in names if n not in doc)
    assert not missing, f"records/layout.py's docstring does not name {missing}"
    listed = set(re.findall(r"\b[\w-]+\.(?:json|tsv|md|png|html|log|yaml|lock|diff)\b", doc))
    unknown = sorted(n for n in listed - names if not n.startswith(("run-", "train", "infer", "score")))
    assert not unknown, f"records/layout.py's docstring names files the layout does not define: {unknown}"
