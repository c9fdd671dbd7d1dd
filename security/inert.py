"""What an attack leaves in the records must be inert and bounded, whatever its outcome.

A hostile candidate need not score to do harm: its description or error text can carry terminal
escapes for whoever tails results.tsv, markup for whoever opens report.html, megabytes for every
reader; its output can flood the host. The suite therefore checks, for every attack, the files as
they lie on disk (not as a reader that cleans them would see them):

- its results.tsv row and record.json: every text cell a fixed point of `safe_text` (no control
  character, no bidi override, no undecodable byte, at most MAX_CHARS);
- its container logs: at most the policy's log_size each;
- report.html: no markup from its text (a tag of it, verbatim, is markup; escaped, it is text).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from afr_box.orchestrator.records.layout import PHASES, RECORD, REPORT_HTML, RESULTS, CandidateFolder
from afr_box.orchestrator.records.runlog import COLUMNS
from afr_box.tasks.shared.text import MAX_CHARS, safe_text

TEXT_FIELDS = ("description", "reason")
TAG = re.compile(r"<[A-Za-z!/?][^<>]{0,200}>?")
# Bare tags the report's own markdown renders: the same text in a row proves nothing.
RENDERED = re.compile(r"</?(table|thead|tbody|tr|th|td|p|h[1-6]|code|pre|ul|ol|li|em|strong|br|hr)>")


def _why_not_inert(value: str) -> str:
    if value == safe_text(value):
        return ""
    return f"{len(value)} characters" if len(value) > MAX_CHARS else "control characters"


def _raw_row(campaign_dir: Path, cand: str) -> dict[str, str]:
    """The candidate's row as the bytes on disk say (undecodable bytes kept as surrogates)."""
    text = (campaign_dir / RESULTS).read_bytes().decode("utf-8", "surrogateescape")
    column = COLUMNS.index("candidate")
    for line in text.split("\n")[1:]:
        cells = line.split("\t")
        if len(cells) == len(COLUMNS) and cells[column] == cand:
            return dict(zip(COLUMNS, cells))
    return {}


def record_problems(campaign_dir: Path, cand: str, log_limit: int) -> list[str]:
    """Why the candidate's row, record or logs are not inert and bounded ([] when they are)."""
    problems = []
    row = _raw_row(campaign_dir, cand)
    if not row:
        problems.append("results.tsv: no well-formed row")
    for name in TEXT_FIELDS:
        why = _why_not_inert(row.get(name, ""))
        if why:
            problems.append(f"results.tsv: its {name} is not inert ({why})")
    record = CandidateFolder(campaign_dir / "candidates" / cand)
    try:
        fields = json.loads((record.path / RECORD).read_bytes().decode("utf-8", "surrogateescape"))
    except (OSError, ValueError) as exc:
        fields = {}
        problems.append(f"record.json: unreadable ({type(exc).__name__})")
    for name in TEXT_FIELDS:
        why = _why_not_inert(str(fields.get(name, "")))
        if why:
            problems.append(f"record.json: its {name} is not inert ({why})")
    for phase in PHASES:
        log = record.phase_log(phase)
        if log.is_file() and log.stat().st_size > log_limit:
            problems.append(f"{log.name}: {log.stat().st_size} bytes > log_size {log_limit}")
    return problems


def report_problems(campaign_dir: Path, cand: str) -> list[str]:
    """Markup from the candidate's own text that report.html carries as markup."""
    row = _raw_row(campaign_dir, cand)
    page = (campaign_dir / REPORT_HTML).read_text(encoding="utf-8", errors="replace")
    tags = {tag for name in TEXT_FIELDS for tag in TAG.findall(row.get(name, "")) if not RENDERED.fullmatch(tag)}
    found = sorted(tag for tag in tags if tag in page)
    return [f"report.html renders markup from its text: {safe_text(found[0], 80)}"] if found else []
