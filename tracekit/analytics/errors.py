"""Errors as pandas DataFrames: breakdowns by status / HTTP code / exception type, failed
requests apart from errors recovered inside them, and where each failure began
(``error_origins``, rules in docs/analytics.md).

>>> con = tracekit.connect("data/demo")  # doctest: +SKIP
>>> error_origin_summary(con)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Literal

import duckdb
import pandas as pd

from tracekit.errors import UserError


def error_breakdown(
    con: duckdb.DuckDBPyConnection, *, by: Literal["service", "operation"] = "service"
) -> pd.DataFrame:
    """Per group and dimension (status, http_status, exception_type) and value: spans, share,
    errors, error_rate."""
    if by not in ("service", "operation"):
        raise UserError(f"by: expected 'service' or 'operation', got {by!r}")
    return con.sql(
        "SELECT * FROM error_breakdown(by_operation := $by_operation)",
        params={"by_operation": by == "operation"},
    ).df()


def error_origins(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per errored or failed trace: trace_id, span_id, service, operation, reason, rule,
    status, start_time, the errored span the rules started from (error_span_id, error_service,
    error_operation, error_message) and failed (the request failed as its caller saw it)."""
    return con.sql("SELECT * FROM error_origins").df()


def error_origin_summary(
    con: duckdb.DuckDBPyConnection, *, failed: bool | None = None
) -> pd.DataFrame:
    """Where failures begin: traces per origin service, operation and rule, most first, with
    the share of the traces counted and one example trace id. ``failed=True`` counts only the
    requests that failed, ``False`` only those that recovered from their errors, ``None`` all.
    """
    return con.sql(
        """
        SELECT service, operation, rule, count(*) AS traces,
               round(count(*) / sum(count(*)) OVER (), 6) AS share,
               min(trace_id) AS example_trace_id
        FROM error_origins
        WHERE $failed IS NULL OR failed = $failed
        GROUP BY ALL
        ORDER BY traces DESC, service, operation, rule
        """,
        params={"failed": failed},
    ).df()


def error_outcomes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The two figures a request's errors come to, in one row: traces, failed (the request
    failed as its caller saw it: ``traces.failed``), recovered (traces holding ERROR spans that
    did not fail: errors handled inside, e.g. a retry that worked) and error_spans."""
    return con.sql(
        """
        SELECT count(*) AS traces,
               count(*) FILTER (WHERE failed) AS failed,
               count(*) FILTER (WHERE error_count > 0 AND NOT failed) AS recovered,
               coalesce(sum(error_count), 0)::BIGINT AS error_spans
        FROM traces
        """
    ).df()
