"""N+1 call patterns as DataFrames (the ``n_plus_one`` view, docs/analytics.md "N+1").

>>> con = tracekit.connect("data/demo")  # doctest: +SKIP
>>> n_plus_one_summary(con)  # doctest: +SKIP
"""

from __future__ import annotations

import duckdb
import pandas as pd


def n_plus_one(con: duckdb.DuckDBPyConnection, *, min_calls: int = 5) -> pd.DataFrame:
    """Runs of at least ``min_calls`` (>= 5) serial calls of one operation under one parent:
    trace_id, parent_span_id, service, operation, calls, wall_us, sum_us, start_time; the
    costliest first."""
    return con.sql(
        "SELECT * FROM n_plus_one WHERE calls >= $min_calls ORDER BY sum_us DESC, trace_id",
        params={"min_calls": min_calls},
    ).df()


def n_plus_one_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per service and operation: runs, traces, mean and max calls per run, total wall time."""
    return con.sql("SELECT * FROM n_plus_one_summary ORDER BY wall_us DESC").df()
