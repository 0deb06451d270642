"""N+1 call patterns as DataFrames (the ``n_plus_one`` view, docs/analytics.md "N+1").

>>> con = tracekit.connect("data/demo")  # doctest: +SKIP
>>> n_plus_one_summary(con)  # doctest: +SKIP
"""

from __future__ import annotations

import duckdb
import pandas as pd


def n_plus_one(con: duckdb.DuckDBPyConnection, *, min_calls: int = 5) -> pd.DataFrame:
    """Runs of at least ``min_calls`` (>= 5) back-to-back calls a parent made of one callee:
    trace_id, parent_span_id, caller and caller_operation (the parent), service and operation
    (what was called), calls, wall_us, sum_us, median_gap_us, start_time; the costliest first."""
    return con.sql(
        "SELECT * FROM n_plus_one WHERE calls >= $min_calls ORDER BY sum_us DESC, trace_id",
        params={"min_calls": min_calls},
    ).df()


def n_plus_one_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per caller and called service and operation: runs, traces, mean and max calls per run,
    total wall and call time."""
    return con.sql("SELECT * FROM n_plus_one_summary ORDER BY wall_us DESC").df()
