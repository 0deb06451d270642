"""Executed reports, made once per session: every notebook run by papermill on simulated data.

``report_runs`` runs every report on a simulated mes-saturated hour, ``order_loss`` on a
queue-loss hour (the scenarios whose truth the reports must find), ``bottlenecks`` and
``compare`` on a baseline hour (compared with the mes-saturated one), and every report on
``dispatch``, a service graph that is not the workshop's (tests/cases/report/dispatch.yaml),
with ``compare`` between it and its fixed version, into one reports folder that the browser
tests then open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tracekit.report.runner import RunResult, run_reports

# Small on purpose: notebooks start a kernel each; an hour of simulated traffic is enough to
# hold the truth's bottleneck and lost messages.
HOURS = 1.0
UI = "http://jaeger.example:16686"  # never contacted: links only
START = "2026-01-05T17:00:00Z"  # the evening rush: mes busy (55-75% in its busiest 5 minutes)
# mes-saturated's peak hour, where mes runs at ~90% in its busiest 5 minutes (0.88-0.97 over six
# drawn seeds; at 17:00 it was 0.65-0.75, and a report rightly called mes "queueing")
PEAK = "2026-01-05T19:00:00Z"
DISPATCH = REPO / "tests" / "cases" / "report" / "dispatch.yaml"
DISPATCH_FIXED = REPO / "tests" / "cases" / "report" / "dispatch-fixed.yaml"
DISPATCH_HOURS = 0.25  # ~900 requests of ~36 spans


class ReportRuns:
    """The session's report runs, with the truths of the datasets they read."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.runs: dict[tuple[str, str], RunResult] = {}
        self.truths: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, Path] = {}

    def get(self, name: str, scenario: str) -> RunResult:
        """The run of report ``name`` on ``scenario``'s dataset."""
        return self.runs[(name, scenario)]

    def all(self) -> list[RunResult]:
        return list(self.runs.values())

    def add(self, scenario: str, names: Any, params: dict[str, Any]) -> None:
        for result in run_reports(names, self.datasets[scenario], self.out, params, label=scenario):
            self.runs[(result.name, scenario)] = result


@pytest.fixture(scope="session")
def report_runs(simulated: Any, tmp_path_factory: pytest.TempPathFactory) -> ReportRuns:
    """Every report executed once on simulated data (see the module docstring)."""
    runs = ReportRuns(tmp_path_factory.mktemp("reports"))
    made = {
        "mes-saturated": simulated("mes-saturated", hours=HOURS, seed=7, start=PEAK),
        "queue-loss": simulated("queue-loss", hours=HOURS, seed=7),
        "baseline": simulated("baseline", hours=HOURS, seed=7, start=START),
        "dispatch": simulated(str(DISPATCH), hours=DISPATCH_HOURS, seed=7, start=START),
        "dispatch-fixed": simulated(str(DISPATCH_FIXED), hours=DISPATCH_HOURS, seed=7, start=START),
    }
    for scenario, (dataset, truth) in made.items():
        runs.datasets[scenario], runs.truths[scenario] = dataset, truth
    runs.add("mes-saturated", "all", {})
    runs.add("queue-loss", ["order_loss"], {"jaeger_ui_url": UI})
    runs.add("baseline", ["bottlenecks"], {})
    runs.add("baseline", ["compare"], {"before": str(runs.datasets["mes-saturated"])})
    runs.add("dispatch", "all", {"jaeger_ui_url": UI})
    runs.add("dispatch-fixed", ["compare"], {"before": str(runs.datasets["dispatch"])})
    return runs
