"""The stretch of time a capacity replay works on when the data hold more than it fits in memory.

The replay (``tracekit.capacity.replay``) holds every work span as arrays, several copies of
each: ~1.2 KB a span over a base of ~0.6 GB (measured on the workshop's days, docs/benchmarks.md
"Scale"), so 50 days of the workshop (11.2M spans) took 12.2 GB. When the data hold more spans
than the memory budget gives room for (or than ``MAX_REPLAY_SPANS``), the replay works on the
busiest stretch that fits: the hour with the most spans, grown hour by hour towards its busier
neighbour while the stretch still fits. Capacity is decided by the busiest load, so that stretch
is the one a plan must survive; the rest of the data are left out, and the report says so.

>>> stretch = replay_stretch(con)  # doctest: +SKIP
>>> if stretch: stretch.narrow(con)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np

from tracekit.connect import narrow_to_traces_in
from tracekit.limits import memory_bytes
from tracekit.sqlfiles import load_sql

# What the replay holds, measured: the capacity report at 2GB of DuckDB budget peaked at 892 MB
# on one day of the workshop (224k spans) and 1,996 MB on five (1.12M): 1.23 KB a span over
# ~0.62 GB. Rounded up, so that a stretch cut to the budget stays within it.
REPLAY_BASE_BYTES = 700 * 10**6
REPLAY_BYTES_PER_SPAN = 1_300
# The most spans replayed whatever the budget: ~9 days of the workshop, ~3 GB and about a minute
# for the capacity report. More data change the busiest stretch's forecast little and cost
# minutes (50 days: 335 s).
MAX_REPLAY_SPANS = 2_000_000
# The fewest spans a budget is taken to allow (a tiny budget still forecasts its busiest hour).
MIN_REPLAY_SPANS = 10_000
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Stretch:
    """The period a replay works on: [start, end), its spans, and those of all the data."""

    start: datetime
    end: datetime
    spans: int
    total_spans: int
    limit: int

    def reason(self, *, asked: bool = False) -> str:
        """Why the data were cut, as a clause (``asked``: the limit was given, not derived)."""
        if asked:
            return f"more than the {self.limit:,} spans asked for"
        if self.limit >= MAX_REPLAY_SPANS:
            return f"more than a replay takes ({self.limit:,} spans)"
        return (
            f"more than the replay holds in the memory budget ({self.limit:,} spans; a larger "
            "--memory-limit holds more)"
        )

    @property
    def replayed(self) -> str:
        """What the replay works on, without its article: the busiest stretch that fits, or
        the busiest hour when even it holds more than the limit (it is replayed all the same).

        >>> at = datetime(2026, 1, 5, 19)
        >>> Stretch(at, at + _HOUR, 900, 5_000, 1_000).replayed
        'busiest stretch that fits'
        >>> Stretch(at, at + _HOUR, 1_200, 5_000, 1_000).replayed
        'busiest hour, though it alone holds more'
        """
        if self.spans <= self.limit:
            return "busiest stretch that fits"
        return "busiest hour, though it alone holds more"

    @property
    def sentence(self) -> str:
        """What was left out and why, for a note under the forecast."""
        return (
            f"the data hold {self.total_spans:,} spans, {self.reason()}: the forecast replays "
            f"the {self.replayed}, {self.start:%Y-%m-%d %H:%M} to "
            f"{self.end:%Y-%m-%d %H:%M} UTC ({self.spans:,} spans)"
        )

    def narrow(self, con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        """Narrow every view of ``con`` to the traces starting in the stretch; returns the spans
        and traces kept."""
        return narrow_to_traces_in(con, self.start, self.end, table="capacity_stretch_traces")


def replay_span_limit(memory_limit: str) -> int:
    """The most spans a replay holds within ``memory_limit`` (as DuckDB spells a size), at most
    ``MAX_REPLAY_SPANS``.

    >>> replay_span_limit("2GB")
    1000000
    >>> replay_span_limit("64GB")
    2000000
    """
    room = (memory_bytes(memory_limit) - REPLAY_BASE_BYTES) // REPLAY_BYTES_PER_SPAN
    return int(min(MAX_REPLAY_SPANS, max(MIN_REPLAY_SPANS, room)))


def connection_span_limit(con: duckdb.DuckDBPyConnection) -> int:
    """``replay_span_limit`` of the memory budget ``con`` runs with."""
    ((setting,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    return replay_span_limit(str(setting))


def replay_stretch(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> Stretch | None:
    """The busiest stretch of whole hours holding at most ``limit`` spans (default: what the
    connection's memory budget allows), or None when all the data fit."""
    limit = connection_span_limit(con) if limit is None else int(limit)
    hours = con.sql(load_sql("capacity/hour_spans.sql")).fetchnumpy()
    spans = np.asarray(hours["spans"], dtype=np.int64)
    total = int(spans.sum())
    if total <= limit:
        return None
    first, last = busiest_run(spans, limit)
    starts = hours["hour"]
    return Stretch(
        start=_datetime(starts[first]),
        end=_datetime(starts[last]) + _HOUR,
        spans=int(spans[first : last + 1].sum()),
        total_spans=total,
        limit=limit,
    )


def busiest_run(counts: np.ndarray, limit: int) -> tuple[int, int]:
    """First and last index of a run of ``counts`` around its largest one, grown one step at a
    time towards the larger neighbour that still fits under ``limit`` (the largest count alone
    when even it does not fit).

    >>> busiest_run(np.array([1, 5, 9, 2, 7]), 16)
    (1, 3)
    """
    first = last = int(np.argmax(counts))
    held = int(counts[first])
    while True:
        left = int(counts[first - 1]) if first > 0 else None
        right = int(counts[last + 1]) if last + 1 < len(counts) else None
        fitting = [
            (count, side)
            for count, side in ((left, -1), (right, 1))
            if count is not None and held + count <= limit
        ]
        if not fitting:
            return first, last
        count, side = max(fitting)
        held += count
        if side < 0:
            first -= 1
        else:
            last += 1


def _datetime(value: object) -> datetime:
    """A naive UTC datetime from what DuckDB's fetchnumpy gives for a TIMESTAMP."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    micros = int(np.datetime64(str(value)).astype("datetime64[us]").astype(np.int64))
    return datetime(1970, 1, 1) + timedelta(microseconds=micros)
