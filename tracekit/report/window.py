"""The report window: a tracekit connection whose views see only the traces a report is about.

The window's trace ids are picked from the stored trace summaries (``traces``) into a small
table, and ``tracekit.connect.narrow_to_traces_in`` narrows ``span_rows``, ``spans`` and every
stored per-trace view to them, so ``traces``, ``critical_path``, ``bottlenecks`` ... all answer
for the window. Nothing is copied: a window of weeks costs memory only for what a query needs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from tracekit.connect import connect, narrow_to_traces_in
from tracekit.errors import UserError
from tracekit.report.escape import Markup
from tracekit.report.params import ReportParams
from tracekit.report.prose import Prose, count, length, names, period, say
from tracekit.sqlfiles import quote_ident

# Seconds for short captures (a 2-minute HotROD run drew one point per minute: one point).
_BUCKETS = tuple(timedelta(seconds=s) for s in (5, 10, 15, 30)) + tuple(
    timedelta(minutes=m) for m in (1, 5, 15, 30, 60, 180, 360, 720, 1440, 10080)
)


@dataclass
class Window:
    """An open report window: the connection and the bounds it was cut with."""

    con: duckdb.DuckDBPyConnection
    start: datetime
    end: datetime
    services: tuple[str, ...]
    spans: int
    traces: int
    newest: datetime

    @property
    def bucket(self) -> timedelta:
        """A time-bucket width giving bar charts over time at most 60 bars across the window."""
        return self.bucket_for(60)

    @property
    def bucket_label(self) -> str:
        """The bucket width in words, for axis titles: ``"5 min"``, ``"1 h"``."""
        return bucket_label(self.bucket)

    def bucket_for(self, points: int) -> timedelta:
        """The narrowest bucket width giving at most ``points`` buckets across the window (lines
        of quantiles want ~40: a p95 of a one-minute bucket is mostly noise)."""
        length = self.end - self.start
        for width in _BUCKETS:
            if length / width <= points:
                return width
        return _BUCKETS[-1]

    def materialize(self, *views: str) -> None:
        """Compute ``views`` once for this window and serve them from memory afterwards.

        For a notebook that reads a costly view through several others: ``critical_path`` is
        read by ``bottlenecks``, ``bottleneck_operations`` ... and would be walked each time.

        >>> window.materialize("critical_path")  # doctest: +SKIP
        """
        for view in views:
            name, table = quote_ident(view), quote_ident(f"{view}_window")
            self.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {name}")
            self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {table}")

    def narrow(self, start: datetime, end: datetime) -> None:
        """Keep only the window's traces that start in [start, end), in every view."""
        self.spans, self.traces = narrow_to_traces_in(
            self.con, start, end, table="report_stretch_traces"
        )
        self.start, self.end = max(self.start, start), min(self.end, end)

    def keep_services(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` whose ``service`` is one the report was asked about (all rows
        when it was asked about every service): traces touching a chosen service also reach
        others, whose rows a per-service table would otherwise show."""
        return frame[frame["service"].isin(self.services)] if self.services else frame

    @property
    def days(self) -> bool:
        """Whether the window spans more than a day (time axes then show dates too)."""
        return self.end - self.start > timedelta(hours=30)

    def describe(self) -> Prose:
        """One sentence saying what the report covers (values escaped)."""
        scope = (
            say(", traces touching {names}", names=names(self.services)) if self.services else ""
        )
        return say(
            "This report covers {traces} ({spans}) that started in {period} ({length}){scope}.",
            traces=count(self.traces, "trace"),
            spans=count(self.spans, "span"),
            period=period(self.start, self.end),
            length=length(self.end - self.start),
            scope=Markup(scope),
        )

    def whole_buckets(
        self, frame: pd.DataFrame, column: str, width: timedelta | float
    ) -> pd.DataFrame:
        """The rows of ``frame`` whose time bucket (``column`` to ``column`` + ``width``, a
        timedelta or seconds) lies inside the window: a bucket cut by the window's edge holds
        part of its traffic and would draw a drop that did not happen."""
        if not isinstance(width, timedelta):
            width = timedelta(seconds=float(width))
        slack = width / 100  # a window starting 0.3 s into a 5-minute bucket still fills it
        starts = pd.to_datetime(frame[column])
        inside = (starts >= pd.Timestamp(self.start - slack)) & (
            starts + width <= pd.Timestamp(self.end + slack)
        )
        return frame[inside]

    def findings(self) -> dict[str, object]:
        """The window as findings, for the page header and the index."""
        return {
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "traces": self.traces,
            "spans": self.spans,
            "services": list(self.services),
        }


def bucket_label(width: timedelta) -> str:
    """A bucket width in words, for axis titles: ``"5 min"``, ``"1 h"``, ``"1 day"``."""
    seconds = int(width.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 1440:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} day" if minutes == 1440 else f"{minutes // 1440} days"


def open_window(params: ReportParams) -> Window:
    """Connect to ``params.dataset`` and restrict every view to the report window.

    ``since`` counts back from ``end`` (default: the newest span); ``start`` alone runs to the
    newest span. An empty window is a UserError naming the bounds.
    """
    con = connect(params.dataset)
    # A progress bar would land in the report as output (or as a widget needing scripts). In a
    # kernel without ipywidgets DuckDB refuses to touch the setting, and shows no bar anyway.
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")
    bounds = "SELECT min(start_time), max(start_time) FROM span_rows"
    first, newest = con.execute(bounds).fetchall()[0]
    if newest is None:
        raise UserError(f"{params.dataset}: the dataset holds no spans")
    end = params.end or newest + timedelta(microseconds=1)
    start = end - params.since if params.since is not None else params.start or first
    # a plain (not TEMP) table of the in-memory database, so cursors (JupySQL uses one) see it
    spans, traces = narrow_to_traces_in(
        con, start, end, params.services, table="report_window_traces"
    )
    if not spans:
        scope = f" touching {', '.join(params.services)}" if params.services else ""
        raise UserError(
            f"{params.dataset}: no traces{scope} start between {start:%Y-%m-%d %H:%M:%S} and "
            f"{end:%Y-%m-%d %H:%M:%S} UTC (newest span {newest:%Y-%m-%d %H:%M:%S})"
        )
    return Window(con, start, end, params.services, spans, traces, newest)
