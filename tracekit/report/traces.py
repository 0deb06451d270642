"""Single traces for the reports: which one to show, and its spans laid out as a waterfall.

>>> trace_id = representative_trace(con)              # doctest: +SKIP
>>> spans, segments = trace_waterfall(con, trace_id)  # doctest: +SKIP
>>> charts.waterfall_chart(spans, segments, title="...")  # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pandas as pd

from tracekit.sqlfiles import load_sql

MAX_ROWS = 80  # a waterfall taller than this is no longer read; the rest is summarised


def representative_trace(
    con: duckdb.DuckDBPyConnection, root_service: str | None = None
) -> str | None:
    """A slow but typical trace: of the request kind holding the most time (or of
    ``root_service``'s kinds), the one nearest that kind's p95 duration; None when no trace has
    its root."""
    rows = con.execute(
        load_sql("report/representative_trace.sql"), {"root_service": root_service}
    ).fetchall()
    return str(rows[0][0]) if rows else None


def trace_waterfall(
    con: duckdb.DuckDBPyConnection, trace_id: str, *, max_rows: int = MAX_ROWS
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The trace's spans in waterfall order (each parent followed by its children by start
    time), with ``row``, ``depth``, ``label``, ``start_ms``/``end_ms`` from the trace's start
    and ``is_error``; its critical-path segments (``row``, ``start_ms``, ``end_ms``); and the
    number of spans left out beyond ``max_rows``."""
    spans = con.execute(load_sql("report/trace_spans.sql"), {"trace_id": trace_id}).df()
    segments = con.execute(load_sql("report/critical_segments.sql"), {"trace_id": trace_id}).df()
    if spans.empty:
        return spans, segments, 0
    origin = spans["start_time"].min()
    order, depth = _tree_order(spans)
    spans = spans.set_index("span_id").loc[order].reset_index()
    spans["depth"] = [depth[s] for s in spans["span_id"]]
    spans["row"] = range(len(spans))
    left_out = max(len(spans) - max_rows, 0)
    spans = spans.head(max_rows).copy()
    spans["label"] = [
        "\u2002" * min(d, 12) + f"{service}: {operation}"
        for d, service, operation in zip(
            spans["depth"], spans["service"], spans["operation"], strict=True
        )
    ]
    spans["start_ms"] = (spans["start_time"] - origin).dt.total_seconds() * 1000
    spans["end_ms"] = spans["start_ms"] + spans["duration_us"] / 1000
    spans["duration_ms"] = spans["duration_us"] / 1000
    spans["critical_ms"] = spans["critical_us"] / 1000
    spans["is_error"] = spans["status"] == "ERROR"
    rows = dict(zip(spans["span_id"], spans["row"], strict=True))
    segments = segments[segments["span_id"].isin(rows)].copy()
    segments["row"] = segments["span_id"].map(rows)
    segments["start_ms"] = (segments["start_time"] - origin).dt.total_seconds() * 1000
    segments["end_ms"] = segments["start_ms"] + segments["duration_us"] / 1000
    return spans, segments, left_out


def _tree_order(spans: pd.DataFrame) -> tuple[list[str], dict[str, int]]:
    """Span ids depth first (children by start time), and each span's depth. Spans whose
    parent is missing start their own subtree; a parent cycle is broken where it is met."""
    ids = set(spans["span_id"])
    children: dict[str | None, list[str]] = defaultdict(list)
    for span_id, parent in zip(spans["span_id"], spans["parent_span_id"], strict=True):
        children[parent if parent in ids else None].append(span_id)
    order: list[str] = []
    depth: dict[str, int] = {}
    stack = [(span_id, 0) for span_id in reversed(children[None])]
    while stack:
        span_id, level = stack.pop()
        if span_id in depth:
            continue
        depth[span_id] = level
        order.append(span_id)
        stack.extend((child, level + 1) for child in reversed(children[span_id]))
    for span_id in spans["span_id"]:  # spans only reachable through a cycle
        if span_id not in depth:
            depth[span_id] = 0
            order.append(span_id)
    return order, depth
