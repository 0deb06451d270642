"""Reports: parameterised notebooks run by papermill into offline HTML, listed in an index.

``run_reports("all", dataset, out)`` is what ``tracekit report`` and ``tracekit demo`` call.
The runner (and papermill) is imported on first use, so a notebook importing
``tracekit.report.params`` does not pay for it.
"""

from __future__ import annotations

from typing import Any

from tracekit.report.notebooks import NOTEBOOKS

__all__ = ["NOTEBOOKS", "RunResult", "plan_reports", "run_report", "run_reports"]


def __getattr__(name: str) -> Any:
    if name in ("RunResult", "plan_reports", "run_report", "run_reports"):
        from tracekit.report import runner

        return getattr(runner, name)
    raise AttributeError(name)
