"""Critical paths as DataFrames: the segments of a trace, and critical time per operation.

Thin wrappers over the ``critical_path`` view and the ``critical_path_by_operation`` macro
(``tracekit/sql/views/30_critical_path.sql``); semantics in docs/analytics.md.

>>> con = tracekit.connect("data/demo")  # doctest: +SKIP
>>> critical_path_by_operation(con).head()  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pandas as pd

from tracekit.errors import UserError
from tracekit.times import naive_utc, utc_datetime

TimeBound = datetime | str | timedelta | None


def critical_path(con: duckdb.DuckDBPyConnection, trace_id: str | None = None) -> pd.DataFrame:
    """Critical-path segments (trace_id, span_id, service, operation, kind, start_time, end_time,
    duration_us, clock_shift_us: how far a clock-skew correction moved the span's segments
    back, 0 almost always), in time order; one trace's when ``trace_id`` is given."""
    return con.sql(
        "SELECT * FROM critical_path WHERE $trace_id IS NULL OR trace_id = $trace_id "
        "ORDER BY trace_id, start_time",
        params={"trace_id": trace_id},
    ).df()


def critical_path_by_operation(
    con: duckdb.DuckDBPyConnection, *, since: TimeBound = None, until: TimeBound = None
) -> pd.DataFrame:
    """Per span service and operation: critical-path time (cp_us), its share of all critical-path
    time, the traces it is on and its mean per such trace, for traces started in the window.

    ``since``/``until`` are datetimes (UTC), ISO texts, or timedeltas counted back from the
    newest span's end (``since=timedelta(hours=2)``: the last two hours of data).
    """
    start, end = time_bounds(con, since, until)
    return con.sql(
        "SELECT * FROM critical_path_by_operation(since := $since, until := $until)",
        params={"since": start, "until": end},
    ).df()


def time_bounds(
    con: duckdb.DuckDBPyConnection, since: TimeBound, until: TimeBound
) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` as naive UTC datetimes (what the views store), or None."""
    return _bound(con, since, "since"), _bound(con, until, "until")


def _bound(con: duckdb.DuckDBPyConnection, value: TimeBound, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        newest = con.execute("SELECT max(end_time) FROM span_rows").fetchall()[0][0]
        return None if newest is None else newest - value
    if isinstance(value, str):
        try:
            return utc_datetime(value)
        except ValueError as exc:
            raise UserError(f"{name}: not an ISO date-time: {value!r}") from exc
    if not isinstance(value, datetime):
        raise UserError(f"{name}: expected a datetime, ISO text or timedelta, got {value!r}")
    return naive_utc(value)
