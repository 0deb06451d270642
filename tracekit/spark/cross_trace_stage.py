"""Stage 3, cross-trace: the views that learn facts across all traces, on the driver.

Bottlenecks rank services against the 95th percentile of every trace's critical path; lost
messages and funnels match messages across traces and learn which services consume each
destination (and which steps exist) from all of them. No partition of the traces gives those
answers exactly, so they are computed the way a dataset's own are: DuckDB on the driver over
the staged result set (``tracekit.connect``), which reads the stored per-trace results the
trace stage wrote. Its cost is one machine's (docs/spark.md, "What each stage costs").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracekit.dataset.manifest import PartFile
from tracekit.spark.options import AnalyzeOptions


@dataclass(frozen=True)
class CrossTraceResult:
    """A whole-data result of a view that reads across traces."""

    name: str
    query: str
    params: dict[str, Any] = field(default_factory=dict)


def cross_trace_results(options: AnalyzeOptions) -> Iterator[CrossTraceResult]:
    from tracekit.analytics.funnel import builtin_flows, load_flow

    yield CrossTraceResult("bottlenecks", "SELECT * FROM bottlenecks")
    yield CrossTraceResult("bottleneck_operations", "SELECT * FROM bottleneck_operations")
    yield CrossTraceResult("lost_messages", "SELECT * FROM lost_messages")
    for name in options.flows if options.flows is not None else builtin_flows():
        flow = load_flow(name)
        yield CrossTraceResult(
            f"funnel_{_name(flow.name)}",
            "SELECT * FROM funnel($steps)",
            {"steps": list(flow.steps)},
        )


def run_cross_trace_stage(
    staging: Path, options: AnalyzeOptions
) -> tuple[dict[str, pa.Table], dict[str, str], list[PartFile]]:
    """Each cross-trace result over the staged result set; those whose SQL refused the data
    (e.g. a funnel whose steps the data does not hold) are returned apart with the reason.

    First the cross-trace views a dataset stores (``tracekit.cross_trace``: message fates,
    joined traces, late charges) are computed once, written under ``staging`` as a write would
    store them, and returned as part files for the manifest: the results after them read them,
    and so does every query on the result set."""
    import duckdb

    from tracekit.connect import connect
    from tracekit.cross_trace import compute_cross_trace
    from tracekit.dataset.writer import PartWriters

    con = connect(staging, memory_limit=options.driver_memory)
    found: dict[str, pa.Table] = {}
    skipped: dict[str, str] = {}
    parts: list[PartFile] = []
    try:
        writers = PartWriters(staging)  # as a write stores them
        try:
            for name, table in compute_cross_trace(con).items():
                writers.write_table(name, table)
        finally:
            writers.close()
        parts = writers.entries()
        for result in cross_trace_results(options):
            try:
                found[result.name] = con.sql(
                    result.query, params=result.params or None
                ).to_arrow_table()
            except duckdb.Error as exc:
                skipped[result.name] = str(exc).strip().splitlines()[0][:300]
    finally:
        con.close()
    return found, skipped, parts


def _name(text: str) -> str:
    """A flow's name as a result's name: lower case, ``[a-z0-9_]``."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "flow"
