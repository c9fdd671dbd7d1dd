"""Untrusted text made safe to keep: the one function every record, row, report and display
passes candidate-derived strings through (descriptions, error texts, file names, knob values).

`safe_text` bounds the length and leaves no character that acts on whoever reads the record:
no terminal control (ESC/BEL/OSC/CSI sequences, C1 controls, DEL), no bidirectional override
that reorders what is shown, no lone surrogate (an undecodable file-name byte) that would make
writing UTF-8 raise. What it removes stays visible as an escape (`\\x1b`, `\\u202e`, `\\xe9`),
so the evidence of an attack is kept, inert. It is idempotent: cleaning clean text changes
nothing, so a row read back hashes as it was written.

It lives in the bottom layer so that the sandbox (names in /out), the orchestrator (records)
and the reports use the same one.
"""
from __future__ import annotations

import re

MAX_CHARS = 1000          # a description or a reason in a row or a record
TRUNCATED = "… [truncated]"
# Line and paragraph breaks (and the other separators str.splitlines honours): one space in a
# one-line text, kept as "\n" in a multi-line one (a diff, a log).
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# Format characters that reorder or hide what a reader sees ("Trojan source").
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Everything else that acts on a reader: C0 controls (but tab and the breaks), DEL, C1, surrogates.
_UNSAFE = re.compile(f"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\ud800-\udfff{_BIDI}]")
_ONE_LINE = re.compile(f"[\t{_BREAKS}]")
_LINE_BREAKS = re.compile(f"\r\n?|[{_BREAKS}]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: object, limit: int = MAX_CHARS, lines: bool = False) -> str:
    """`value` as text of at most `limit` characters without control characters.

    One line by default (breaks and tabs become spaces, as a TSV cell needs); `lines=True`
    keeps line breaks and tabs (a diff, a log excerpt)."""
    text = value if isinstance(value, str) else str(value)
    text = text[:limit + 1]  # escapes only lengthen: the kept prefix depends on this much alone
    if lines:
        text = _LINE_BREAKS.sub("\n", text)
    else:
        text = _ONE_LINE.sub(" ", text)
    cleaned = _UNSAFE.sub(_escape, text)
    if len(cleaned) > limit:
        cleaned = cleaned[:max(0, limit - len(TRUNCATED))] + TRUNCATED
    return cleaned
