"""Slow traces against the rest: which attribute values come with slowness."""

from __future__ import annotations

import duckdb
import pandas as pd

from tracekit.errors import UserError
from tracekit.sqlfiles import load_sql


def slow_vs_baseline(
    con: duckdb.DuckDBPyConnection,
    *,
    quantile: float = 0.95,
    max_values: int = 20,
    limit: int = 15,
    baseline_sample: int = 20_000,
) -> pd.DataFrame:
    """Attribute values over-represented in traces at or above the ``quantile`` of durations.

    Traces are compared with traces of their own kind (same root service and operation). The
    baseline is at most ``baseline_sample`` of the other traces, chosen by a hash of their ids.

    Columns: service, attribute, value, slow_traces, slow_share, baseline_share, difference
    (slow_share - baseline_share), largest difference first.

    >>> slow_vs_baseline(tracekit.connect("data/demo")).head(3)  # doctest: +SKIP
    """
    if not 0 < quantile < 1:
        raise UserError(f"quantile: must be between 0 and 1, got {quantile}")
    return con.sql(
        load_sql("report/slow_vs_baseline.sql").rstrip().rstrip(";"),
        params={
            "quantile": quantile,
            "max_values": int(max_values),
            "limit": int(limit),
            "baseline_sample": int(baseline_sample),
        },
    ).df()
