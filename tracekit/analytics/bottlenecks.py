"""Bottlenecks as DataFrames: who owns the critical path, per service or operation, and which
attribute values are over-represented in slow traces.

Thin wrappers over the ``bottleneck_shares`` and ``slow_attributes`` macros
(``tracekit/sql/views/50_bottlenecks.sql``); the ranking is explained in docs/analytics.md.

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
    quantile: float = 0.95,
    min_kind_traces: int = 20,
    baseline_sample: int = 20_000,
    since: TimeBound = None,
    until: TimeBound = None,
) -> pd.DataFrame:
    """service, key, value, slow_traces, baseline_traces, slow_share, baseline_share, difference,
    lift: span and resource (``resource.<key>``) attribute values over-represented in slow traces,
    largest difference first.

    Each trace is compared with its own kind (root service and operation, kinds with at least
    ``min_kind_traces`` traces): slow when its critical path is at or above the kind's
    ``quantile``; the baseline is the rest, at most ``baseline_sample`` of them (picked by a hash
    of their ids). Listed are values carried by at least ``min_traces`` slow traces; keys with
    more than ``max_values`` values in a service (ids) are skipped.

    >>> slow_attributes(tracekit.connect("data/demo")).head(3)  # doctest: +SKIP
    """
    if min_traces < 1 or max_values < 1 or min_kind_traces < 1 or baseline_sample < 1:
        raise UserError(
            "min_traces, max_values, min_kind_traces and baseline_sample must be at least 1"
        )
    if not 0 < quantile < 1:
        raise UserError(f"quantile: must be between 0 and 1, got {quantile}")
    start, end = time_bounds(con, since, until)
    return con.sql(
        "SELECT * FROM slow_attributes(min_traces := $min_traces, max_values := $max_values, "
        "quantile := $quantile, min_kind_traces := $min_kind_traces, "
        "baseline_sample := $baseline_sample, since := $since, until := $until)",
        params={
            "min_traces": int(min_traces),
            "max_values": int(max_values),
            "quantile": float(quantile),
            "min_kind_traces": int(min_kind_traces),
            "baseline_sample": int(baseline_sample),
            "since": start,
            "until": end,
        },
    ).df()
