"""The reports on Jaeger's HotROD (issue 14 item 4, issue 17's must-shows): a real system's
traces, not the workshop's, with and without its database mutex (-M).

Every report runs on the defaults capture and answers in HotROD's terms (no workshop service,
no "orders"); compare, between the two captures, says that mysql's share of the critical path
fell and by how much (checked against the bottlenecks view on each capture); every first screen
holds its verdict, in headless Chromium.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import tracekit
from tests.plugins.browser import OfflineBrowser
from tests.plugins.simulated import WORKSHOP_SERVICES
from tests.test_report_run import _visible_text, noisy_outputs
from tests.test_report_screens import _opened
from tracekit.report.findings import read_findings
from tracekit.report.notebooks import NOTEBOOKS
from tracekit.report.prose import percent, points
from tracekit.report.runner import RunResult, run_reports

pytestmark = [pytest.mark.jaeger, pytest.mark.hotrod, pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="session")
def hotrod_reports(
    hotrod_defaults: Any, hotrod_fixed: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, RunResult]:
    out = tmp_path_factory.mktemp("hotrod-reports")
    runs = {r.name: r for r in run_reports("all", hotrod_defaults.dataset, out, label="hotrod")}
    (runs["compare-fix"],) = run_reports(
        ["compare"], hotrod_fixed.dataset, out, {"before": str(hotrod_defaults.dataset)},
        label="hotrod -M",
    )  # fmt: skip
    return runs


def test_every_report_speaks_of_hotrod(
    hotrod_reports: dict[str, RunResult], hotrod_defaults: Any
) -> None:
    services = {
        row[0]
        for row in tracekit.connect(hotrod_defaults.dataset)
        .sql("SELECT DISTINCT service FROM spans")
        .fetchall()
    }
    assert set(hotrod_reports) == {*NOTEBOOKS, "compare-fix"}
    for name, result in hotrod_reports.items():
        assert result.ok, (hotrod_defaults.describe(), name, result.error)
        assert not noisy_outputs(result), (name, noisy_outputs(result))
        text = _visible_text(result.html)
        for workshop in (*WORKSHOP_SERVICES, "workshop"):
            assert not re.search(rf"(?<![\w-]){re.escape(workshop)}(?![\w-])", text), (
                name,
                workshop,
            )
        assert not re.search(r"\b[Oo]rders?\b", text), (name, "workshop wording")
        for service in read_findings(result.notebook).get("ranking", []):
            assert service in services
    loss = read_findings(hotrod_reports["order_loss"].notebook)
    assert loss["noun"] == "request" and loss["flow"][0] == "frontend"
    bottlenecks = read_findings(hotrod_reports["bottlenecks"].notebook)
    assert bottlenecks["bottleneck"] == "mysql", hotrod_defaults.describe()
    # mysql's time is its lock (its spans say "Waiting for lock behind N transactions"): not
    # "its own work", and not a queue more mysql workers would drain
    assert bottlenecks["state"] == "contended", bottlenecks["headline"]
    assert bottlenecks["headline"].startswith("mysql is contended")
    assert "contention" in bottlenecks["action"] and "Add " not in bottlenecks["action"]
    explore = read_findings(hotrod_reports["explore"].notebook)
    assert "mysql is contended" in explore["action"], explore["action"]
    assert f"across {len(services)} services" in explore["headline"], explore["headline"]


def test_compare_says_mysqls_share_fell_and_by_how_much(
    hotrod_reports: dict[str, RunResult], hotrod_defaults: Any, hotrod_fixed: Any
) -> None:
    result = hotrod_reports["compare-fix"]
    findings = read_findings(result.notebook)
    share = {
        side: dict(tracekit.connect(capture.dataset).sql(
            "SELECT service, cp_share FROM bottlenecks").fetchall())["mysql"]
        for side, capture in (("before", hotrod_defaults), ("after", hotrod_fixed))
    }  # fmt: skip
    assert share["after"] < share["before"], (hotrod_fixed.describe(), share)
    assert findings["moved_service"] == "mysql"
    sentence = (
        f"mysql's share of the critical path fell from {percent(share['before'])} to "
        f"{percent(share['after'])} ({points(share['after'] - share['before'])})"
    )
    assert sentence in _visible_text(result.html), sentence


def test_first_screens_hold_their_verdicts(
    hotrod_reports: dict[str, RunResult], browser: OfflineBrowser
) -> None:
    for name, result in hotrod_reports.items():
        state = _opened(browser, result.html)
        box = state["verdict"]
        assert box is not None and box["top"] >= 0 and box["bottom"] <= state["viewport"], name
        assert read_findings(result.notebook)["headline"] in " ".join(state["verdict_text"].split())
        browser.first_screen(f"first-screen-{name}-hotrod")
        browser.screenshot(f"page-{name}-hotrod")
