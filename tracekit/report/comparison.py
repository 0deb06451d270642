"""Two windows side by side, for the ``compare`` report: before and after a fix or a deploy.

The *after* window is the report's own (``dataset``, ``since``/``start``/``end``). The *before*
window is ``before_start``..``before_end`` of the ``before`` dataset (the same dataset when
empty). Without bounds it is all of another dataset or, in the same dataset, the period of equal
length just before the after window; when the after window is the whole dataset, the dataset is
cut in two halves.

>>> pair = open_windows(params)             # doctest: +SKIP
>>> side_by_side(before, after, keys=["service"], values=["p95_ms"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tracekit.errors import UserError
from tracekit.report.params import ReportParams
from tracekit.report.prose import Prose, count, length, period, say
from tracekit.report.window import Window, open_window
from tracekit.sqlfiles import load_sql


@dataclass
class WindowPair:
    """The two windows compared, and one sentence saying how they were chosen."""

    before: Window
    after: Window
    how: Prose
    same_dataset: bool


def open_windows(params: ReportParams) -> WindowPair:
    """Open the before and after windows of a compare report (see the module docstring)."""
    before_dataset = params.extra.get("before") or params.dataset
    before_start, before_end = params.extra.get("before_start"), params.extra.get("before_end")
    same = Path(before_dataset).resolve() == Path(params.dataset).resolve()
    after = open_window(params)
    if before_start or before_end:
        before = open_window(
            ReportParams(
                before_dataset, start=before_start, end=before_end, services=params.services
            )
        )
        how = say("Before: the window asked for; after: the report's window.")
    elif not same:
        before = open_window(
            ReportParams(before_dataset, since=params.since, services=params.services)
        )
        how = say(
            "Before: the dataset {before}; after: the dataset {after}.",
            before="/".join(Path(before_dataset).parts[-2:]),
            after="/".join(params.dataset.parts[-2:]),
        )
    elif params.since is None and params.start is None and params.end is None:
        middle = after.start + (after.end - after.start) / 2
        before = open_window(replace(params, start=after.start, end=middle, since=None))
        after = open_window(replace(params, start=middle, end=after.end, since=None))
        how = say("The dataset cut in two halves: before is the first, after the second.")
    else:
        span = after.end - after.start
        before = open_window(replace(params, start=after.start - span, end=after.start, since=None))
        how = say("Before: the {length} just before the report's window.", length=length(span))
    if before.start < after.end and after.start < before.end and same:
        raise UserError(
            "compare: the before and after windows overlap "
            f"({before.start:%Y-%m-%d %H:%M}–{before.end:%Y-%m-%d %H:%M} and "
            f"{after.start:%Y-%m-%d %H:%M}–{after.end:%Y-%m-%d %H:%M} UTC)"
        )
    return WindowPair(before, after, how, same)


def describe_pair(pair: WindowPair) -> Prose:
    """One sentence naming both windows."""
    return say(
        "Before: {b_traces} in {b_period}; after: {a_traces} in {a_period}. {how}",
        b_traces=count(pair.before.traces, "trace"),
        b_period=period(pair.before.start, pair.before.end),
        a_traces=count(pair.after.traces, "trace"),
        a_period=period(pair.after.start, pair.after.end),
        how=pair.how,
    )


def side_by_side(
    before: pd.DataFrame,
    after: pd.DataFrame,
    *,
    keys: Sequence[str],
    values: Sequence[str],
) -> pd.DataFrame:
    """``before`` and ``after`` joined on ``keys`` (rows of either side kept), each value as
    ``VALUE_before``, ``VALUE_after`` and ``VALUE_change`` (after minus before)."""
    left = before[[*keys, *values]].rename(columns={v: f"{v}_before" for v in values})
    right = after[[*keys, *values]].rename(columns={v: f"{v}_after" for v in values})
    merged = left.merge(right, on=list(keys), how="outer")
    for value in values:
        merged[f"{value}_change"] = merged[f"{value}_after"] - merged[f"{value}_before"]
    return merged


def entry_durations(con: duckdb.DuckDBPyConnection, service: str, operation: str) -> np.ndarray:
    """The durations (ms) of the window's requests entering at ``service`` ``operation``."""
    rows = con.execute(
        load_sql("report/entry_durations.sql"), {"service": service, "operation": operation}
    ).fetchall()
    return np.array([row[0] for row in rows], dtype=float)


def p95_moved(before: np.ndarray, after: np.ndarray, *, resamples: int = 400) -> bool:
    """Did the p95 move by more than the noise of the samples? The 95% bootstrap interval of
    ``p95(after) - p95(before)`` must exclude zero. Two halves of one steady hour of the
    simulator (~450 requests each) differ by 10-30% in p95 by chance alone; this keeps such
    a difference from being called faster or slower. The resampling is seeded: the same windows
    give the same verdict."""
    if len(before) < 20 or len(after) < 20:
        return False
    rng = np.random.default_rng(0)
    left = np.quantile(rng.choice(before, (resamples, len(before))), 0.95, axis=1)
    right = np.quantile(rng.choice(after, (resamples, len(after))), 0.95, axis=1)
    low, high = np.quantile(right - left, [0.025, 0.975])
    return bool(low > 0 or high < 0)
