"""Which service holds up the requests, and whether it is saturated or slow.

The bottlenecks view ranks services by their share of the critical path; what to do about the
first one depends on where its time goes. When a large part of it is waiting in front of the
service (callers queueing for a free worker: the view's ``wait_share``), it is **saturated**
and more workers help; when it is its own work, it is **slow** and only faster work helps
(fewer calls, a cache, better code or hardware). When its spans themselves record waiting
(events naming a lock or a wait, as HotROD's mysql logs "Waiting for lock behind 2 transactions"),
its own time is **contended**: one at a time behind a lock or a pool inside it, which neither
more workers nor faster code cure until the contention goes.

>>> table = bottleneck_table(window.con)  # doctest: +SKIP
>>> diagnose(table).state                 # doctest: +SKIP
'saturated'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pandas as pd

from tracekit.sqlfiles import load_sql

# A fifth of a service's critical-path time spent queueing in front of it: on the simulator,
# `mes` waits 3.8-6% of its time in `baseline` and 31-39% in `mes-saturated` (MES at ~90% in
# its busiest windows); half of that marks a service starting to queue.
SATURATED_WAIT_SHARE = 0.20
QUEUEING_WAIT_SHARE = 0.10
# A fifth of a service's spans saying they waited inside: contention, not a rare retry.
CONTENDED_SPAN_SHARE = 0.20

State = Literal["saturated", "queueing", "contended", "slow"]


@dataclass(frozen=True)
class Diagnosis:
    """The first service of the ranking and what its time is made of."""

    service: str
    state: State
    cp_share: float
    cp_share_slow: float
    wait_share: float
    own_p95_ms: float | None
    wait_p95_ms: float | None
    span_p95_ms: float | None  # all its spans (a service seen only through client spans)
    inner_wait_share: float = 0.0  # share of its spans recording a wait inside them
    inner_wait_event: str | None = None  # the most common such event name


def bottleneck_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The bottlenecks view (rank, service, shares, wait_share) with each service's own-work
    p95 and the p95 of the waits in front of it (``own_p95_ms``, ``wait_p95_ms``), in ms.

    The view's ``self_p95_us`` counts a client span's self time (waiting for its callee) as the
    caller's own; ``own_p95_ms`` leaves client and producer spans out, and that time shows up
    as the callee's ``wait_p95_ms`` instead, as the view charges it on the critical path.
    """
    ranking = con.sql("SELECT * FROM bottlenecks ORDER BY rank").df()
    times = con.sql(load_sql("report/service_times.sql")).df()
    table = ranking.merge(times, on="service", how="left")
    table["own_p95_ms"] = table["own_p95_us"] / 1000
    table["wait_p95_ms"] = table["wait_p95_us"] / 1000
    table["span_p95_ms"] = table["span_p95_us"] / 1000
    return table.drop(columns=["own_p95_us", "wait_p95_us", "span_p95_us"])


def inner_waits(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per service whose spans record waiting inside them: span_share, example_event."""
    return con.sql(load_sql("report/inner_waits.sql")).df()


def diagnose(table: pd.DataFrame, inner: pd.DataFrame | None = None) -> Diagnosis | None:
    """The diagnosis of the table's rank-1 service (``inner``: :func:`inner_waits`); None for
    an empty table."""
    if table.empty:
        return None
    top = table.sort_values("rank").iloc[0]
    wait_share = float(top["wait_share"]) if pd.notna(top["wait_share"]) else 0.0
    waits = inner[inner["service"] == top["service"]] if inner is not None else pd.DataFrame()
    inner_share = float(waits["span_share"].iloc[0]) if len(waits) else 0.0
    # The service's own word comes first: spans that say they waited for a lock are contended
    # however their time was charged (HotROD's mysql spans are client spans naming mysql as
    # their peer, so the view charges all of it to mysql as wait: 100%).
    state: State = (
        "contended"
        if inner_share >= CONTENDED_SPAN_SHARE
        else "saturated"
        if wait_share >= SATURATED_WAIT_SHARE
        else "queueing"
        if wait_share >= QUEUEING_WAIT_SHARE
        else "slow"
    )
    return Diagnosis(
        service=str(top["service"]),
        state=state,
        cp_share=float(top["cp_share"]),
        cp_share_slow=float(top["cp_share_slow"]) if pd.notna(top["cp_share_slow"]) else 0.0,
        wait_share=wait_share,
        own_p95_ms=_number(top.get("own_p95_ms")),
        wait_p95_ms=_number(top.get("wait_p95_ms")),
        span_p95_ms=_number(top.get("span_p95_ms")),
        inner_wait_share=inner_share,
        inner_wait_event=str(waits["example_event"].iloc[0]) if len(waits) else None,
    )


def _number(value: Any) -> float | None:
    return float(value) if value is not None and pd.notna(value) else None


def n_plus_one_calls(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """N+1 runs per called operation, named by caller and callee: operation (the callee's),
    callee, caller, runs, traces, mean_calls, max_calls, wall_ms_per_trace, example_trace_id."""
    frame = con.sql(load_sql("report/n_plus_one_calls.sql")).df()
    frame["wall_ms_per_trace"] = frame["wall_us_per_trace"] / 1000
    return frame.drop(columns=["wall_us_per_trace"])
