"""`report.html`: the markdown report as one self-contained page (images inlined, no network)."""
from __future__ import annotations

import base64
import html
from pathlib import Path

from afr_box.orchestrator.records.layout import REPORT_HTML

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
code, pre { background: #f6f8fa; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
pre { padding: 0.8em; overflow-x: auto; }
img { max-width: 100%; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
"""


def write_html(campaign_dir: Path, markdown_text: str, title: str) -> Path:
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code"], output_format="html")
    for png in sorted(Path(campaign_dir).glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        body = body.replace(f'src="{png.name}"', f'src="data:image/png;base64,{data}"')
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")
    out = Path(campaign_dir) / REPORT_HTML
    out.write_text(page, encoding="utf-8")
    return out
