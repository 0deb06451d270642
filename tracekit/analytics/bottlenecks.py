"""Bottlenecks as DataFrames: who owns the critical path, per service or operation, and which
attribute values are over-represented in slow traces.

Thin wrappers over the ``bottleneck_shares`` and ``slow_attributes`` macros
(``tracekit/sql/views/31_bottlenecks.sql``); the ranking is explained in docs/analytics.md.

>>> con = tracekit.connect("data/demo")  # doctest: +SKIP
>>> bottlenecks(con).iloc[0]["service"]  # doctest: +SKIP
'mes'
"""

from __future__ import annotations

from typing import Literal

import duckdb
import pandas as pd

from tracekit.analytics.critical_path import TimeBound, time_bounds
from tracekit.errors import UserError


def bottlenecks(
    con: duckdb.DuckDBPyConnection,
    *,
    by: Literal["service", "operation"] = "service",
    since: TimeBound = None,
    until: TimeBound = None,
) -> pd.DataFrame:
    """rank (1 = worst), service[, operation], traces, cp_us, cp_share, cp_share_slow, wait_us,
    wait_share, self_p95_us over the traces started in the window (see
    ``critical_path_by_operation`` for ``since``/``until``)."""
    if by not in ("service", "operation"):
        raise UserError(f"by: expected 'service' or 'operation', got {by!r}")
    start, end = time_bounds(con, since, until)
    frame = con.sql(
        "SELECT * FROM bottleneck_shares(by_operation := $by_operation, since := $since, "
        "until := $until)",
        params={"by_operation": by == "operation", "since": start, "until": end},
    ).df()
    return frame.drop(columns=["operation"]) if by == "service" else frame


def slow_attributes(
    con: duckdb.DuckDBPyConnection,
    *,
    min_traces: int = 5,
    max_values: int = 50,
    since: TimeBound = None,
    until: TimeBound = None,
) -> pd.DataFrame:
    """key, value, slow_traces, other_traces, slow_share, other_share, lift: span and resource
    attribute values carried by at least ``min_traces`` slow traces (critical path >= p95),
    most over-represented first. Keys with more than ``max_values`` values (ids) are skipped."""
    if min_traces < 1 or max_values < 1:
        raise UserError("min_traces and max_values must be at least 1")
    start, end = time_bounds(con, since, until)
    return con.sql(
        "SELECT * FROM slow_attributes(min_traces := $min_traces, max_values := $max_values, "
        "since := $since, until := $until)",
        params={"min_traces": min_traces, "max_values": max_values, "since": start, "until": end},
    ).df()
