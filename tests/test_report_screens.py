"""The first screen of every report holds its verdict, as a reader opening the page sees it.

Each report is opened from disk in headless Chromium at 1280x900; its verdict (headline with
numbers, the evidence, an action) must lie entirely within that first screen, below a header
that names the report, dataset and window and links back to the index. Screenshots of the first
screen and of the whole page go to test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.plugins.browser import OfflineBrowser
from tests.plugins.reports import ReportRuns
from tracekit.report.findings import read_findings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRST_SCREEN = """
var verdict = document.querySelector('.tk-verdict');
var header = document.querySelector('nav.tk-header');
var index = header ? header.querySelector('a') : null;
return {
  viewport: window.innerHeight,
  verdict: verdict ? verdict.getBoundingClientRect().toJSON() : null,
  verdict_text: verdict ? verdict.innerText : '',
  header: header ? header.innerText : '',
  index_href: index ? index.href : null,
  title: document.title,
  charts: Array.from(document.querySelectorAll('.tracekit-chart')).map(function (el) {
    return el.getAttribute('data-rendered') === 'true';
  })
};
"""


def _opened(browser: OfflineBrowser, page: Path) -> dict:
    browser.driver.set_window_size(1280, 900)
    browser.open(page.resolve().as_uri())
    deadline = time.monotonic() + 30
    while True:
        state = browser.driver.execute_script(FIRST_SCREEN)
        if all(state["charts"]) or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def test_every_first_screen_holds_its_verdict(
    report_runs: ReportRuns, browser: OfflineBrowser
) -> None:
    for (name, scenario), result in sorted(report_runs.runs.items()):
        where = f"{name} on {scenario}"
        state = _opened(browser, result.html)
        box = state["verdict"]
        assert box is not None, f"{where}: no verdict"
        assert box["top"] >= 0 and box["bottom"] <= state["viewport"], (where, box)
        findings = read_findings(result.notebook)
        text = " ".join(state["verdict_text"].split())
        assert findings["headline"] in text and "Action:" in text, (where, text)
        assert any(c.isdigit() for c in findings["headline"]), (where, "no number in the answer")
        # the header and title say what this is, and lead back to the index
        dataset = Path(result.params["dataset"]).name
        start = findings["window_start"][:10]
        for part in (name, dataset, start):
            assert part in state["header"] and part in state["title"], (where, part, state)
        assert "generated" in state["header"]
        index = Path(unquote(state["index_href"].removeprefix("file://")))
        assert index.resolve() == (report_runs.out / "index.html").resolve(), where
        browser.first_screen(f"first-screen-{name}-{scenario}")
        browser.screenshot(f"page-{name}-{scenario}")
