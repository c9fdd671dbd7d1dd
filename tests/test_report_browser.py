"""report.html opened in a real headless Chromium: a hostile description, error text, knob and
diff show as text, and no script of theirs runs (stored XSS). A control page that carries the
same markup raw shows that this browser does run it, so the test would catch a regression."""
from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

import pytest

from afr_box.reports.html import markdown_to_html
from afr_box.reports.report import render_report
from test_reports import context, row

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
XSS = ('<img src=x onerror="document.title=\'PWNED\'"><script>document.title="PWNED"</script>'
       '<svg onload="document.title=\'PWNED\'"></svg>')
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup-host.sh installs it)")


def dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM after load and two seconds of (virtual) time: what a reader's browser shows."""
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=2000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_this_browser_runs_raw_markup_in_a_page(tmp_path):
    page = tmp_path / "raw.html"
    page.write_text(f"<!DOCTYPE html><html><head><title>report</title></head><body>{XSS}</body></html>")
    assert "<title>PWNED</title>" in dump_dom(page, tmp_path / "profile")


def test_a_hostile_description_shows_as_text_in_report_html(tmp_path):
    ctx = context([row(0, "keep", 0.70, "baseline"), row(1, "keep", 0.75, f"agent: {XSS}"),
                   row(2, "crash", None, f"[click](javascript:alert(1)) {XSS}", reason=f"train: {XSS}")])
    ctx.best_knobs = {"note": XSS}
    ctx.best_diff = f"+# {XSS}\n"
    render_report(tmp_path, ctx)
    dom = dump_dom(tmp_path / "report.html", tmp_path / "profile")
    assert "<title>afr-box campaign heart-demo</title>" in dom  # no script of the candidate's ran
    body = dom.split("<body>", 1)[1]
    for element in ('<img src="x"', "<script", "<svg", 'href="javascript'):  # none made it into the DOM...
        assert element not in body
    assert html.unescape(body).count(XSS) >= 5  # ...all shown as written: description (best, table), reason, knob, diff


def test_markdown_is_rendered_with_raw_html_disabled():
    body = markdown_to_html(f"| a |\n|---|\n| {XSS} |\n\n{XSS}\n\n[x](javascript:alert(1))\n")
    assert "<img" not in body and "<script" not in body and "<svg" not in body and 'href="javascript' not in body
    assert "&lt;img src=x onerror=" in body and "<table>" in body
