"""Per-trace results: everything that depends on one trace's spans only, computed once.

Self time, trace summaries, critical-path segments, error origins, N+1 runs and telemetry loss
need a whole trace and nothing else. They are computed when spans are written (for exactly the
traces that gain spans: ``tracekit.dataset``), by Spark tasks per bucket of traces, or at
connect time for a dataset written by an older tracekit; the views then read the stored results.

The semantics live in one place, the view SQL (``tracekit/sql/views/*.sql``): here the same
views run on a DuckDB connection whose ``span_rows`` holds only the given traces, and the
per-trace ones are fetched as tables. A view may be listed in ``PER_TRACE_VIEWS`` only if its
rows for a trace depend on that trace's spans alone; cross-trace views (message matches through
links or ids, funnels, quantiles over all traces) stay computed at query time.

>>> results = compute_per_trace(spans)  # doctest: +SKIP
>>> results.tables["critical_path"].num_rows  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from tracekit.schema import SPAN_SCHEMA

if TYPE_CHECKING:
    import duckdb

# In dependency order: a view later in the list may read an earlier one, which is then read
# from its materialized table instead of being computed again (critical_path_charges reads
# critical_path: computing the walk once halves the cost).
PER_TRACE_VIEWS: tuple[str, ...] = (
    "trace_roots",
    "traces",
    "critical_path",
    "critical_path_charges",
    "error_origins",
    "n_plus_one",
    "telemetry_loss",
)

SELF_US = "self_us"


@dataclass(frozen=True)
class PerTraceResults:
    """What ``compute_per_trace`` found: each input row's self time (in input order) and one
    table per view of ``PER_TRACE_VIEWS``."""

    self_us: pa.Array
    tables: dict[str, pa.Table]


def compute_per_trace(
    spans: pa.Table,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
) -> PerTraceResults:
    """The per-trace results of ``spans``, which must hold every span of its traces (the
    results of a trace missing some spans describe what was given, as for telemetry loss).

    ``spans`` has the span schema (a ``self_us`` column, as stored, is ignored).
    """
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {}
    if threads:
        config["threads"] = int(threads)
    if memory_limit:
        config["memory_limit"] = memory_limit
    if temp_directory:
        config["temp_directory"] = temp_directory
    con = duckdb.connect(config=config)
    try:
        rows = spans.select(SPAN_SCHEMA.names)
        con.register("input_rows", rows.append_column("input_row", pa.array(np.arange(len(rows)))))
        con.execute("CREATE TEMP TABLE span_rows AS SELECT * EXCLUDE (input_row) FROM input_rows")
        create_views(con)
        self_us = con.sql(
            "SELECT i.duration_us - coalesce(t.covered_us, 0) AS self_us "
            "FROM input_rows AS i LEFT JOIN span_self_time AS t USING (trace_id, span_id) "
            "ORDER BY i.input_row"
        ).to_arrow_table()[SELF_US]
        tables = {}
        for name in PER_TRACE_VIEWS:
            table = con.sql(f"SELECT * FROM {name}").to_arrow_table()
            con.register(f"computed_{name}", table)
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM computed_{name}")
            tables[name] = table
        return PerTraceResults(self_us=self_us.combine_chunks().cast(pa.int64()), tables=tables)
    finally:
        con.close()


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    from tracekit.connect import create_views as create

    create(con)
