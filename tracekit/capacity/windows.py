"""Per component, per time window: arrivals, service time, waits, concurrency, workers, utilization.

A component is a service whose workers do SERVER or CONSUMER spans, or something only CLIENT
spans call and nothing answers with spans of its own (a database: see
tracekit/sql/capacity/work_spans.sql). Rates are counted over the time the data covers (a 60 s
capture in a 5-minute window is 60 s of load, not 300), so the window length only smooths.
Concurrency is busy worker-time over that covered time (Little's law), utilization that over
the component's workers (``tracekit.capacity.limits``), None while its limit is unknown.

>>> con = tracekit.connect("data/demo")                     # doctest: +SKIP
>>> window_metrics(con, window_s=300).head()                # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import yaml

from tracekit.capacity.limits import Inferred, infer_limits
from tracekit.connect import connect
from tracekit.errors import UserError
from tracekit.sqlfiles import load_sql

DEFAULT_WINDOW_S = 300
# A window's arrival count is a Poisson sample of its rate: with n arrivals the rate is known to
# about 1/sqrt(n). A window with fewer arrivals than this is pooled with a neighbour, so that a
# burst of noise in a short window is not taken for load (HotROD at 1.25 requests/s: 30-second
# windows of ~38 requests moved the saturation point by 9-15% against one 60 s window).
MIN_PERIOD_ARRIVALS = 50
# DuckDB's time_bucket counts windows from this instant (2000-01-03 00:00 UTC, a Monday).
WINDOW_ORIGIN_US = 946_857_600_000_000

Connectable = duckdb.DuckDBPyConnection | str | os.PathLike[str]


def as_connection(con_or_dataset: Connectable) -> duckdb.DuckDBPyConnection:
    """A connection as given, or ``tracekit.connect`` on a dataset path."""
    if isinstance(con_or_dataset, duckdb.DuckDBPyConnection):
        return con_or_dataset
    return connect(con_or_dataset)


def prepare_work(con: duckdb.DuckDBPyConnection, window_s: int = DEFAULT_WINDOW_S) -> None:
    """(Re)build the temp tables ``capacity_spans`` and ``capacity_work`` (one row per unit of
    work a component did)."""
    if int(window_s) <= 0:
        raise UserError(f"window length must be a positive number of seconds, got {window_s}")
    con.execute(load_sql("capacity/spans.sql"))
    con.execute(load_sql("capacity/work_spans.sql"), {"window_s": int(window_s)})


def work_spans(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The work spans for the replay (call ``prepare_work`` first), in arrival order: service
    (the component) and operation (categorical), instance, kind, window_start, arrival_us,
    start_us, duration_us, self_us, inner_wait_us, gap_us, call islands and caller_row (the row
    of the calling work span, -1 for none)."""
    table = con.sql(load_sql("capacity/replay_rows.sql")).to_arrow_table()
    for name in ("service", "operation"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.dictionary_encode(table[name]))
    # 64-bit keys straight from Arrow: through pandas a nullable column would become float
    keys = table["key"].to_numpy()
    has_caller = table["caller_key"].is_valid().to_numpy(zero_copy_only=False)
    callers = pc.fill_null(table["caller_key"], 0).to_numpy()
    frame = table.drop_columns(["key", "caller_key"]).to_pandas()
    order = np.lexsort((keys, frame["arrival_us"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    keys, has, callers = keys[order], has_caller[order], callers[order]
    # caller_key -> the row holding that key (a sorted search instead of a join)
    by_key = np.argsort(keys, kind="stable")
    sorted_keys = keys[by_key]
    wanted = callers[has]
    at = np.minimum(np.searchsorted(sorted_keys, wanted), max(len(keys) - 1, 0))
    found = sorted_keys[at] == wanted if len(keys) else np.zeros(0, dtype=bool)
    caller_row = np.full(len(frame), -1, dtype=np.int64)
    caller_row[np.flatnonzero(has)[found]] = by_key[at[found]]
    frame["caller_row"] = caller_row
    return frame


@dataclass(frozen=True)
class Coverage:
    """The time the data covers: merged intervals of epoch microseconds, each trace's extent
    joined to the next unless nothing was in progress for longer than a window (two captures
    hours apart are two stretches, not one with a long idle middle)."""

    intervals: np.ndarray  # shape (k, 2): start_us, end_us

    def seconds(self, window_starts_us: np.ndarray, window_us: int) -> np.ndarray:
        """Seconds of each window [start, start + window_us) that the data covers."""
        starts = np.asarray(window_starts_us, dtype=np.int64)
        covered = np.zeros(starts.size)
        for low, high in self.intervals:
            covered += np.clip(
                np.minimum(starts + window_us, high) - np.maximum(starts, low), 0, None
            )
        return covered / 1e6

    @property
    def total_s(self) -> float:
        return float((self.intervals[:, 1] - self.intervals[:, 0]).sum() / 1e6)


def coverage(con: duckdb.DuckDBPyConnection, window_s: int = DEFAULT_WINDOW_S) -> Coverage:
    """The time the data covers (``capacity_spans`` must be prepared)."""
    extents = con.sql(load_sql("capacity/coverage.sql")).fetchnumpy()
    starts = np.asarray(extents["start_us"], dtype=np.int64)
    ends = np.asarray(extents["end_us"], dtype=np.int64)
    if starts.size == 0:
        return Coverage(np.zeros((0, 2), dtype=np.int64))
    reach = np.maximum.accumulate(ends)
    # a new stretch begins where a trace starts more than a window after everything before ended
    breaks = np.flatnonzero(starts[1:] > reach[:-1] + int(window_s) * 1_000_000) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks - 1, [starts.size - 1]))
    intervals = np.stack([starts[first], reach[last]], axis=1)
    # a single instant (one span of zero duration) still covers a microsecond
    intervals[:, 1] = np.maximum(intervals[:, 1], intervals[:, 0] + 1)
    return Coverage(intervals)


def periods(
    counts: np.ndarray,
    follows: np.ndarray,
    minimum: int = MIN_PERIOD_ARRIVALS,
    covered_s: np.ndarray | None = None,
    busy_s: np.ndarray | None = None,
) -> np.ndarray:
    """Group windows into periods of at least ``minimum`` arrivals: a window (or period) with
    fewer is pooled with the adjacent one (``follows[i]``: window i directly follows window
    i - 1) whose load is closest to its own, fewest arrivals first, until none is short or no
    neighbour is left. The load is busy seconds (``busy_s``: service time per window) per
    second of data (``covered_s``; equal windows without), or without ``busy_s`` arrivals per
    second. Pooling assumes the two share a load, so the closest is the one to share it with;
    pooling by size instead (into the neighbour with fewer arrivals) averaged busy windows that
    needed no pooling into quieter ones and hid the peaks they measured (a 5-minute window of 68
    arrivals at 48% utilization went into a 10-minute period at 40%; one of 58 arrivals whose
    service times ran long, at 25%, into one at 20%). Windows without arrivals are left out
    (-1): an idle stretch is not averaged into its neighbours.

    >>> follows = np.array([False, True, True, True, True])
    >>> periods(np.array([60, 20, 70, 0, 10]), follows).tolist()
    [0, 0, 1, -1, 2]
    >>> periods(np.array([70, 48, 53, 42, 0]), follows).tolist()
    [0, 1, 1, 1, -1]
    >>> periods(np.array([58, 46, 63]), follows[:3], busy_s=np.array([150.0, 87.0, 118.0])).tolist()
    [0, 1, 1]
    """
    n = counts.size
    seconds = np.ones(n) if covered_s is None else np.maximum(np.asarray(covered_s, float), 1e-6)
    work = np.asarray(counts if busy_s is None else busy_s, float)
    group = np.where(counts > 0, np.arange(n), -1)
    totals = {i: int(counts[i]) for i in range(n) if counts[i] > 0}
    loads = {i: float(work[i]) for i in totals}
    spans = {i: float(seconds[i]) for i in totals}
    # neighbours: adjacent windows with arrivals
    left = {i: i - 1 for i in totals if i > 0 and follows[i] and (i - 1) in totals}
    right = {j: i for i, j in left.items()}
    while True:
        short = [g for g, total in totals.items() if total < minimum and (g in left or g in right)]
        if not short:
            break
        g = min(short, key=lambda k: (totals[k], k))
        load = loads[g] / spans[g]
        options = [k for k in (left.get(g), right.get(g)) if k is not None]
        other = min(options, key=lambda k: (abs(loads[k] / spans[k] - load), totals[k], k))
        keep, gone = min(g, other), max(g, other)
        group[group == gone] = keep
        totals[keep] += totals.pop(gone)
        loads[keep] += loads.pop(gone)
        spans[keep] += spans.pop(gone)
        # the merged period's neighbours are the outer ones of the pair
        outer_right = right.pop(gone, None)
        left.pop(gone, None)
        right.pop(keep, None)
        if outer_right is not None:
            right[keep] = outer_right
            left[outer_right] = keep
    codes = np.unique(group[group >= 0])
    return np.where(group >= 0, np.searchsorted(codes, group), -1)


def window_metrics(
    con_or_dataset: Connectable,
    window_s: int = DEFAULT_WINDOW_S,
    workers: dict[str, int] | None = None,
) -> pd.DataFrame:
    """One row per component and window: arrivals, the seconds of it the data covers, arrival
    rate and concurrency over those, service time (less lock waits), self time, waits callers
    saw, the most in service at once (summed over instances), workers, how they were found
    (``workers_source``: file, lock waits, queueing, service time, none seen) and utilization
    (None while the limit is unknown).

    ``workers`` overrides the inferred worker count of the services it names.
    """
    con = as_connection(con_or_dataset)
    prepare_work(con, window_s)
    work = work_spans(con)
    return window_table(con, window_s, work, infer_limits(work, workers))


def window_table(
    con: duckdb.DuckDBPyConnection, window_s: int, work: pd.DataFrame, inferred: Inferred
) -> pd.DataFrame:
    """``window_metrics``' table from prepared work spans and their inferred limits."""
    frame = con.sql(load_sql("capacity/windows.sql")).df()
    if frame.empty:
        return frame
    window_us = int(window_s) * 1_000_000
    starts_us = frame["window_start"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    frame["covered_s"] = coverage(con, window_s).seconds(starts_us, window_us)
    covered = frame["covered_s"].where(frame["covered_s"] > 0)
    frame["arrival_rate_per_s"] = frame["arrivals"] / covered
    frame["concurrency"] = frame["busy_s"] / covered
    frame["max_overlap"] = (
        _overlap_by_window(work, inferred, window_us)
        .reindex(pd.MultiIndex.from_frame(frame[["service", "window_start"]]))
        .fillna(0)
        .astype("int64")
        .to_numpy()
    )
    limits = inferred.limits
    frame["workers"] = frame["service"].map({k: v.workers for k, v in limits.items()})
    frame["workers"] = frame["workers"].fillna(0).astype("int64")
    frame["workers_source"] = frame["service"].map({k: v.source for k, v in limits.items()})
    known = frame["service"].map({k: v.known for k, v in limits.items()}).fillna(False)
    frame["utilization"] = (
        frame["concurrency"] / frame["workers"].where(frame["workers"] > 0)
    ).where(known.astype(bool))
    return frame


def _overlap_by_window(work: pd.DataFrame, inferred: Inferred, window_us: int) -> pd.Series:
    """Per component and window, the most in service at once, summed over instances."""
    start = work["start_us"].to_numpy(dtype=np.int64) + inferred.inner_wait_us.astype(np.int64)
    end = work["start_us"].to_numpy(dtype=np.int64) + work["duration_us"].to_numpy(dtype=np.int64)
    events = pd.DataFrame(
        {
            "service": np.concatenate([work["service"].astype(str)] * 2),
            "instance": np.concatenate([work["instance"].astype(str)] * 2),
            "at": np.concatenate([start, end]),
            "step": np.concatenate(
                [np.ones(len(work), dtype=np.int64), -np.ones(len(work), dtype=np.int64)]
            ),
        }
    ).sort_values(["service", "instance", "at", "step"], kind="stable")
    events["open"] = events.groupby(["service", "instance"], sort=False)["step"].cumsum()
    opened = events[events["step"] > 0]
    index = (opened["at"] - WINDOW_ORIGIN_US) // window_us
    window = pd.to_datetime(index * window_us + WINDOW_ORIGIN_US, unit="us")
    peak = (
        opened.assign(window_start=window)
        .groupby(["service", "instance", "window_start"])["open"]
        .max()
    )
    return peak.groupby(level=["service", "window_start"]).sum()


def load_workers_file(path: str | os.PathLike[str]) -> dict[str, int]:
    """Worker counts from a YAML file: ``service: workers`` (optionally under ``workers:``).

    Raises UserError naming the file and key for anything else.

    >>> # workers.yaml:  workers: {mes: 8, mes-api: 4}
    """
    file = Path(path)
    try:
        data: Any = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise UserError(f"{file}: cannot read workers file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{file}: malformed YAML{where}") from exc
    if isinstance(data, dict) and set(data) == {"workers"}:
        data = data["workers"]
    if not isinstance(data, dict) or not data:
        raise UserError(
            f"{file}: expected a mapping of service name to worker count, e.g. `mes: 8`"
        )
    result: dict[str, int] = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise UserError(f"{file}: {name}: workers must be a positive integer, got {value!r}")
        result[str(name)] = value
    return result
