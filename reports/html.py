"""`report.html`: the markdown report as one self-contained page (images inlined, no network).

Rows, reasons, knobs and diffs in the report are candidate text: a description is written by an
agent, an error text by candidate code. The page therefore never carries their markup: the
markdown is rendered with raw HTML disabled (markdown-it-py: `<img onerror=...>` becomes text,
`javascript:` links are refused), the page around it is an autoescaped jinja2 template, and its
Content-Security-Policy allows no script, no frame, no request (images only as inlined data).
"""
from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from afr_box.orchestrator.records.layout import REPORT_HTML

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"


def markdown_to_html(markdown_text: str) -> str:
    """CommonMark + tables, raw HTML disabled: any markup in the text is shown as text."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)


def write_html(campaign_dir: Path, markdown_text: str, title: str, extra_html: str = "",
               out_name: str = REPORT_HTML) -> Path:
    """`extra_html`: a section rendered (and escaped) by its own autoescaped template, appended to
    the body (the agent's conversations: reports/conversation.py)."""
    body = markdown_to_html(markdown_text)
    for png in sorted(Path(campaign_dir).glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        body = body.replace(f'src="{png.name}"', f'src="data:image/png;base64,{data}"')
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    page = env.get_template("report.html.j2").render(title=title, csp=CSP, body=Markup(body), extra=Markup(extra_html))
    out = Path(campaign_dir) / out_name
    out.write_text(page, encoding="utf-8")
    return out
