"""Reading the small CSV files of FLamby datasets (fixed code), with errors that name the fix.

FLamby ships its split and metadata tables as CSV (pandas `read_csv` in its dataset code);
the FLamby bridges here read them with the standard `csv` module, through this one helper,
so a missing file or column is reported the same way for every task.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from afr_box.tasks.shared.sources import DataSourceError


def read_table(path: Path, required: Sequence[str], what: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file; DataSourceError naming the file and any missing column.

    `what` says where the file comes from (shown when it is missing)."""
    path = Path(path)
    if not path.is_file():
        raise DataSourceError(f"missing {path.name} (looked for {path}); it is {what}")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise DataSourceError(f"{path} is empty; expected a header with columns {list(required)}")
    header, body = rows[0], [r for r in rows[1:] if r]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataSourceError(f"{path.name} lacks column(s) {missing}; its header is {header[:8]}"
                              f"{' ...' if len(header) > 8 else ''}")
    for lineno, row in enumerate(body, 2):
        if len(row) != len(header):
            raise DataSourceError(f"{path.name} line {lineno}: {len(row)} fields, expected {len(header)}")
    return header, body


def column(header: list[str], rows: list[list[str]], name: str) -> list[str]:
    j = header.index(name)
    return [r[j] for r in rows]
