"""Latency distributions per service and per operation, as pandas DataFrames for notebooks.

Thin wrappers over the table macros in ``tracekit/sql/views/20_latency.sql`` (so SQL users and
notebooks get the same numbers). ``by="service"`` measures the spans where requests enter a
service; ``by="operation"`` every span of each operation. Quantiles are exact
(``quantile_cont``) unless ``approximate=True`` (DuckDB's t-digest ``approx_quantile``, for
very large datasets).

>>> con = tracekit.connect("data/demo")  # doctest: +SKIP
>>> latency_summary(con, by="operation").head()  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import duckdb
import pandas as pd

from tracekit.errors import UserError

By = Literal["service", "operation"]


def _by_operation(by: str) -> bool:
    if by not in ("service", "operation"):
        raise UserError(f"by: expected 'service' or 'operation', got {by!r}")
    return by == "operation"


def latency_summary(
    con: duckdb.DuckDBPyConnection, *, by: By = "service", approximate: bool = False
) -> pd.DataFrame:
    """spans, mean_us, p50_us, p90_us, p95_us, p99_us, max_us, errors, error_rate per group."""
    return con.sql(
        "SELECT * FROM latency_summary(by_operation := $by_operation, approximate := $approx)",
        params={"by_operation": _by_operation(by), "approx": bool(approximate)},
    ).df()


def latency_over_time(
    con: duckdb.DuckDBPyConnection,
    bucket: timedelta | str = timedelta(minutes=5),
    *,
    by: By = "service",
    approximate: bool = False,
) -> pd.DataFrame:
    """The summary columns per time bucket (``bucket_start``, UTC) and group.

    ``bucket`` is a timedelta or a DuckDB interval text such as ``"15 minutes"``.
    """
    if isinstance(bucket, str):
        try:
            bucket = con.execute("SELECT CAST($b AS INTERVAL)", {"b": bucket}).fetchall()[0][0]
        except duckdb.Error as exc:
            raise UserError(f"bucket: not an interval: {bucket!r}") from exc
    if not isinstance(bucket, timedelta) or bucket <= timedelta(0):
        raise UserError(f"bucket: must be a positive interval, got {bucket!r}")
    return con.sql(
        "SELECT * FROM latency_over_time($bucket, by_operation := $by_operation, "
        "approximate := $approx)",
        params={"bucket": bucket, "by_operation": _by_operation(by), "approx": bool(approximate)},
    ).df()


def latency_histogram(
    con: duckdb.DuckDBPyConnection, *, bins: int = 40, by: By = "service"
) -> pd.DataFrame:
    """Log-spaced histogram per group: bin, lower_us, upper_us, spans, share, cumulative_share."""
    if not isinstance(bins, int) or bins < 1:
        raise UserError(f"bins: must be a positive integer, got {bins!r}")
    return con.sql(
        "SELECT * FROM latency_histogram(bins := $bins, by_operation := $by_operation)",
        params={"bins": bins, "by_operation": _by_operation(by)},
    ).df()


def latency_ecdf(
    con: duckdb.DuckDBPyConnection, *, points: int = 100, by: By = "service"
) -> pd.DataFrame:
    """ECDF per group as (share, duration_us) points at share = 0, 1/points, ..., 1."""
    if not isinstance(points, int) or points < 1:
        raise UserError(f"points: must be a positive integer, got {points!r}")
    return con.sql(
        "SELECT * FROM latency_ecdf(points := $points, by_operation := $by_operation)",
        params={"points": points, "by_operation": _by_operation(by)},
    ).df()
