"""Stored XSS (issue #13 item 2): every report, opened in real headless Chromium, on traces whose
every text field is a script or markup payload, with payloads in the parameters too.

Three things are checked separately, so each wall is known to hold on its own:
1. the reports as written: no payload runs, none becomes an element or an attribute, none even
   trips the Content-Security-Policy (escaping did the work), the payloads read as text and the
   charts still draw under the policy;
2. the same pages with their policy removed: still nothing runs (escaping alone holds);
3. a page carrying unescaped markup: the policy alone blocks it and the browser reports it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.cli import run
from tests.plugins.browser import OfflineBrowser
from tests.plugins.hostile import BACKEND, CONSUMER, GATEWAY, STORE, HostileDataset, payload
from tracekit.report.html import notebook_to_html
from tracekit.report.notebooks import NOTEBOOKS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Installed before any page script: counts alerts and Content-Security-Policy violations.
WATCH = """
window.__alerts = 0; window.__violations = [];
window.alert = function () { window.__alerts += 1; };
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + (e.sample || e.blockedURI));
});
"""
STATE = """
var handlers = [];
document.querySelectorAll('*').forEach(function (el) {
  for (var i = 0; i < el.attributes.length; i++) {
    var name = el.attributes[i].name;
    if (name.indexOf('on') === 0) handlers.push(el.tagName + ' ' + name);
  }
});
return {
  xss: window.__xss === undefined ? null : window.__xss,
  alerts: window.__alerts,
  violations: window.__violations,
  handlers: handlers,
  injected: document.querySelectorAll('img, iframe, object, embed, b[onmouseover]').length,
  javascript_links: document.querySelectorAll('a[href^="javascript:"]').length,
  scripts: Array.from(document.scripts).filter(function (s) {
    return s.textContent.indexOf('__xss') >= 0 && s.type !== 'application/json';
  }).length,
  charts: Array.from(document.querySelectorAll('.tracekit-chart')).map(function (el) {
    return el.getAttribute('data-rendered') === 'true';
  }),
  text: document.body.innerText,
  title: document.title
};
"""


@pytest.fixture
def watched(browser: OfflineBrowser) -> Iterator[OfflineBrowser]:
    """The browser with WATCH installed in every page it opens (removed afterwards)."""
    added = browser.driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": WATCH}
    )
    try:
        yield browser
    finally:
        browser.driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": added["identifier"]}
        )


def _state(browser: OfflineBrowser, path: Path) -> dict:
    browser.open(path.resolve().as_uri())
    deadline = time.monotonic() + 30
    while True:
        state = browser.driver.execute_script(STATE)
        if all(state["charts"]) or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


@pytest.fixture(scope="session")
def hostile_reports(
    hostile_dataset: HostileDataset, tmp_path_factory: pytest.TempPathFactory
) -> list[Path]:
    """Every report run on the hostile dataset, with payloads in the parameters: the services
    filter, the flow's step names (a flow file) and trace ids linked to a Jaeger UI."""
    root = tmp_path_factory.mktemp("hostile-reports")
    flow = root / "flow.yaml"
    flow.write_text(
        "name: '<b>flow</b>'\nsteps:\n"
        + "".join(f"  - {_yaml_text(step)}\n" for step in (GATEWAY, BACKEND, CONSUMER))
    )
    out = root / "reports"
    done = run(
        "report", "all", "--data", str(hostile_dataset.path), "--out", str(out),
        "-p", "services", BACKEND,
        "-p", "flow", str(flow),
        "-p", "jaeger_ui_url", "http://jaeger.example:16686",
        "--label", payload(30, 1),
        timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pages = sorted(out.glob("*/*/report.html"))
    assert sorted(p.parent.parent.name for p in pages) == sorted(NOTEBOOKS)
    return [*pages, out / "index.html"]


def _yaml_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_no_payload_runs_and_every_payload_reads_as_text(
    hostile_reports: list[Path], hostile_dataset: HostileDataset, watched: OfflineBrowser
) -> None:
    seen_text = ""
    for page in hostile_reports:
        state = _state(watched, page)
        where = page.parent.name if page.name == "index.html" else page.parent.parent.name
        assert state["xss"] is None, (where, state["xss"])
        assert state["alerts"] == 0, where
        assert not state["handlers"], (where, state["handlers"][:5])
        assert not state["injected"] and not state["javascript_links"], where
        assert not state["scripts"], where
        # Escaping did it all: nothing even reached the policy.
        assert not state["violations"], (where, state["violations"][:5])
        assert all(state["charts"]), (where, "a chart was not drawn under the policy")
        seen_text += state["text"] + state["title"]
    for text in (*hostile_dataset.texts, payload(30, 1), "<img src=x onerror=window.__xss=9>"):
        assert text in seen_text, f"{text!r} is not shown as text anywhere"


def test_escaping_alone_holds_without_the_policy(
    hostile_reports: list[Path], watched: OfflineBrowser, tmp_path: Path
) -> None:
    for page in hostile_reports:
        html = page.read_text()
        start = html.index('<meta http-equiv="Content-Security-Policy"')
        bare = tmp_path / f"{page.parent.name}-{page.parent.parent.name}.html"
        bare.write_text(html[:start] + html[html.index(">", start) + 1 :])
        state = _state(watched, bare)
        assert state["xss"] is None and not state["handlers"] and not state["injected"], (
            bare.name,
            state["handlers"][:5],
        )


def test_the_policy_alone_blocks_unescaped_markup(watched: OfflineBrowser, tmp_path: Path) -> None:
    cell = nbformat.v4.new_code_cell("x")
    raw = f"<script>window.__xss=101</script>{payload(102, 0)}<a href='javascript:alert(1)'>x</a>"
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": raw})]
    page = tmp_path / "raw.html"
    page.write_text(notebook_to_html(nbformat.v4.new_notebook(cells=[cell]), title="raw"))
    state = _state(watched, page)
    assert state["xss"] is None and state["alerts"] == 0
    assert state["violations"], "the browser saw nothing to block: the payload was not there"
    assert any("script-src" in v for v in state["violations"]), state["violations"]


def test_store_payload_names_are_in_the_data(hostile_dataset: HostileDataset) -> None:
    # The test above proves something only if the payloads really are the services' names.
    done = run("sql", str(hostile_dataset.path), "SELECT DISTINCT service FROM spans", "--format",
               "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in (GATEWAY, BACKEND, STORE, CONSUMER):
        assert name in done.stdout or name.replace('"', '\\"') in done.stdout
