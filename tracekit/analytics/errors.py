"""Errors as pandas DataFrames: breakdowns by status / HTTP code / exception type, and where
each failed trace's failure began (``error_origins``, rules in docs/analytics.md).

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
    """One row per errored trace: trace_id, span_id, service, operation, reason, rule, status,
    start_time, and the errored span the rules started from (error_span_id, error_service,
    error_operation, error_message)."""
    return con.sql("SELECT * FROM error_origins").df()


def error_origin_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Where failures begin: traces per origin service, operation and rule, most first, with
    the share of all errored traces and one example trace id."""
    return con.sql(
        """
        SELECT service, operation, rule, count(*) AS traces,
               round(count(*) / sum(count(*)) OVER (), 6) AS share,
               min(trace_id) AS example_trace_id
        FROM error_origins
        GROUP BY ALL
        ORDER BY traces DESC, service, operation, rule
        """
    ).df()
