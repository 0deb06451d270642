"""Failed requests and recovered errors, as two figures.

A request **failed** when its caller saw it fail; an error inside a request that still
succeeded (a retry, a fallback) was **recovered**. The traces view gains a ``failed`` column
that says so (issue 14); until then a request failed when its root span is an error or answered
an HTTP status of 500 or more, which is the same rule for the trace's own entry.

>>> failures(window.con)  # doctest: +SKIP
Failures(requests=1023, failed=4, recovered=0, rule='root span', deliveries=910, ...)
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from tracekit.sqlfiles import load_sql


@dataclass(frozen=True)
class Failures:
    """Requests that entered in the window (traces whose root is not a message consumer), those
    that failed, those that recovered from an error inside; message deliveries (consumer-rooted
    traces) and their failures apart; ``rule`` names where ``failed`` came from
    (``traces.failed`` or ``root span``)."""

    requests: int
    failed: int
    recovered: int
    rule: str
    deliveries: int = 0
    deliveries_failed: int = 0

    @property
    def failed_share(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    @property
    def recovered_share(self) -> float:
        return self.recovered / self.requests if self.requests else 0.0


def failure_judgements(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, str]:
    """Per trace: trace_id, failed, errored, is_entry; and the rule that decided ``failed``."""
    columns = {row[0] for row in con.execute("DESCRIBE traces").fetchall()}
    if "failed" in columns:
        return con.sql(load_sql("report/failures.sql")).df(), "traces.failed"
    return con.sql(load_sql("report/failures_by_root.sql")).df(), "root span"


def failures(con: duckdb.DuckDBPyConnection) -> Failures:
    """Count the window's failed requests and recovered errors (see the module docstring)."""
    judged, rule = failure_judgements(con)
    entries = judged[judged["is_entry"]]
    deliveries = judged[~judged["is_entry"]]
    return Failures(
        requests=len(entries),
        failed=int(entries["failed"].sum()),
        recovered=int((entries["errored"] & ~entries["failed"]).sum()),
        rule=rule,
        deliveries=len(deliveries),
        deliveries_failed=int(deliveries["failed"].sum()),
    )
