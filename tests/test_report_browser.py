"""Every HTML report opened from disk in headless Chromium with the network off: charts draw.

Screenshots go to test-artifacts/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import time

import pytest

from tests.plugins.browser import OfflineBrowser
from tests.plugins.reports import ReportRuns

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHART_STATE = """
return Array.from(document.querySelectorAll('.tracekit-chart')).map(function (el) {
  return {rendered: el.getAttribute('data-rendered') === 'true',
          error: el.className.indexOf('tracekit-chart-error') >= 0 ? el.textContent : null,
          drawn: el.querySelectorAll('svg, canvas').length};
});
"""


def _charts(browser: OfflineBrowser, timeout_s: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        charts = browser.driver.execute_script(CHART_STATE)
        if all(c["rendered"] or c["error"] for c in charts) or time.monotonic() > deadline:
            return charts
        time.sleep(0.2)


def test_reports_render_offline(report_runs: ReportRuns, browser: OfflineBrowser) -> None:
    for (name, scenario), result in sorted(report_runs.runs.items()):
        browser.open(result.html.resolve().as_uri())
        charts = _charts(browser)
        where = f"{name} on {scenario}"
        assert charts, f"{where}: no chart containers in the HTML"
        assert not [c["error"] for c in charts if c["error"]], where
        assert all(c["rendered"] and c["drawn"] for c in charts), (where, charts)
        page = browser.driver.page_source
        assert "An Exception was encountered" not in page, where
        assert 'data-mime-type="application/vnd.jupyter.error"' not in page, where
        network = [u for u in browser.requested_urls() if u.startswith(("http:", "https:"))]
        assert not network, f"{where}: the report fetched {network}"
        assert not browser.console_errors(), (where, browser.console_errors())
        shot = browser.screenshot(f"report-{name}-{scenario}")
        assert shot.stat().st_size > 10_000


def test_index_opens_offline_and_links_every_run(
    report_runs: ReportRuns, browser: OfflineBrowser
) -> None:
    browser.open((report_runs.out / "index.html").resolve().as_uri())
    links = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('a')).map(a => a.href)"
    )
    for result in report_runs.all():
        assert result.html.resolve().as_uri() in links
    assert not [u for u in browser.requested_urls() if u.startswith(("http:", "https:"))]
    browser.screenshot("report-index")
