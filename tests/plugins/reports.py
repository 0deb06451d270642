"""Executed reports, made once per session: every notebook run by papermill on simulated data.

``report_runs`` runs ``all`` on a simulated mes-saturated hour and ``order_loss`` on a simulated
queue-loss hour (the scenarios whose truth the reports must find), into one reports folder that
the browser test then opens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracekit.report.runner import RunResult, run_reports

# Small on purpose: notebooks start a kernel each; an hour of simulated traffic is enough to
# hold the truth's bottleneck and lost messages.
HOURS = 1.0
UI = "http://jaeger.example:16686"  # never contacted: links only


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


@pytest.fixture(scope="session")
def report_runs(simulated: Any, tmp_path_factory: pytest.TempPathFactory) -> ReportRuns:
    """Every report executed once on simulated data (see the module docstring)."""
    runs = ReportRuns(tmp_path_factory.mktemp("reports"))
    plan = {"mes-saturated": ("all", {}), "queue-loss": (["order_loss"], {"jaeger_ui_url": UI})}
    for scenario, (names, params) in plan.items():
        dataset, truth = simulated(scenario, hours=HOURS, seed=7)
        runs.truths[scenario] = truth
        runs.datasets[scenario] = dataset
        for result in run_reports(names, dataset, runs.out, params, label=scenario):
            runs.runs[(result.name, scenario)] = result
    return runs
