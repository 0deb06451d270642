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

import re
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracekit.schema import EVENT, SPAN_SCHEMA
from tracekit.sqlfiles import load_sql, sql_names
from tracekit.views import create_views, deferred

# In dependency order: a view later in the list may read an earlier one, which is then read
# from its materialized table instead of being computed again (critical_path_charges reads
# critical_path: computing the walk once halves the cost).
PER_TRACE_VIEWS: tuple[str, ...] = (
    "trace_roots",
    "traces",
    "cross_service_spans",
    "critical_path",
    "critical_path_charges",
    "error_origins",
    # n_plus_one itself compares call patterns across traces: computed at query time
    "n_plus_one_runs",
    "call_patterns",
    "telemetry_loss",
)

# Views that several per-trace views read but that are not stored: computed once per bucket
# (span_calls, read by error_origins, n_plus_one_runs and call_patterns: 0.37 s of 3.1 s per
# 240k spans of the import benchmark, paid three times before).
SHARED_VIEWS: tuple[str, ...] = ("span_calls",)

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

    ``spans`` has the span schema (a ``self_us`` column, as stored, is ignored). For many
    buckets in a row, a ``PerTraceRunner`` reuses one DuckDB connection.
    """
    with PerTraceRunner(
        threads=threads, memory_limit=memory_limit, temp_directory=temp_directory
    ) as runner:
        return runner.compute(spans)


class PerTraceRunner:
    """One DuckDB connection computing the per-trace results of bucket after bucket: its
    memory budget bounds what a bucket may hold (beyond it DuckDB spills to
    ``temp_directory``), and the memory one bucket used is reused by the next."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
    ) -> None:
        import duckdb

        config: dict[str, str | bool | int | float | list[str]] = {}
        if threads:
            config["threads"] = int(threads)
        if memory_limit:
            config["memory_limit"] = memory_limit
        if temp_directory:
            config["temp_directory"] = temp_directory
        self.con = duckdb.connect(config=config)
        self._definitions: dict[str, str] | None = None

    def __enter__(self) -> PerTraceRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def compute(self, spans: pa.Table) -> PerTraceResults:
        """The per-trace results of ``spans`` (see ``compute_per_trace``)."""
        con = self.con
        rows = slim(spans.select(SPAN_SCHEMA.names))
        con.register("input_rows", rows.append_column("input_row", pa.array(np.arange(len(rows)))))
        try:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE span_rows AS "
                "SELECT * EXCLUDE (input_row) FROM input_rows"
            )
            self._define_views()
            for name in SHARED_VIEWS:
                con.execute(f"CREATE OR REPLACE TEMP TABLE shared_{name} AS SELECT * FROM {name}")
                con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM shared_{name}")
            self_us = con.sql(
                "SELECT i.duration_us - coalesce(t.covered_us, 0) AS self_us "
                "FROM input_rows AS i LEFT JOIN span_self_time AS t USING (trace_id, span_id) "
                "ORDER BY i.input_row"
            ).to_arrow_table()[SELF_US]
            tables = {}
            for name in PER_TRACE_VIEWS:
                table = con.sql(f"SELECT * FROM {name}").to_arrow_table()
                # later views read this one from its result rather than computing it again
                con.register(f"computed_{name}", table)
                con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM computed_{name}")
                tables[name] = table
        finally:
            con.unregister("input_rows")
            for name in PER_TRACE_VIEWS:
                con.unregister(f"computed_{name}")
            for name in SHARED_VIEWS:
                con.execute(f"DROP TABLE IF EXISTS shared_{name}")
            con.execute("DROP TABLE IF EXISTS span_rows")
        return PerTraceResults(self_us=self_us.combine_chunks().cast(pa.int64()), tables=tables)

    def _define_views(self) -> None:
        """Every view once per connection (parsing the view files costs ~75 ms); afterwards
        only the per-trace views, which a bucket points at its results, are defined again."""
        if self._definitions is None:
            create_views(self.con)
            self._definitions = {
                name: sql
                for name, sql in self.con.execute(
                    "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal"
                ).fetchall()
                if name in PER_TRACE_VIEWS or name in SHARED_VIEWS
            }
            return
        for name in (*SHARED_VIEWS, *PER_TRACE_VIEWS):
            sql = self._definitions[name].replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)
            self.con.execute(deferred(sql))


def slim(spans: pa.Table) -> pa.Table:
    """``spans`` with only the attribute, resource and event-attribute entries that the view SQL
    looks up by name (``attributes['http.status_code']``): DuckDB converts every map entry it is
    handed, ~300 ns each, and real spans carry dozens of entries no per-trace view reads (on the
    import benchmark's spans, 1.3 s of 2.8 s per 240k spans went to that conversion)."""
    keys = pa.array(sorted(looked_up_keys()), pa.string())
    columns = {
        "attributes": [_keep_keys(chunk, keys) for chunk in spans["attributes"].chunks],
        "resource": [_keep_keys(chunk, keys) for chunk in spans["resource"].chunks],
        "events": [_keep_event_keys(chunk, keys) for chunk in spans["events"].chunks],
    }
    for name, chunks in columns.items():
        index = spans.schema.get_field_index(name)
        spans = spans.set_column(
            index, spans.schema.field(name), pa.chunked_array(chunks, spans.schema.field(name).type)
        )
    return spans


_LOOKUP = re.compile(r"\[\s*'((?:[^']|'')+)'\s*\]")


@cache
def looked_up_keys() -> frozenset[str]:
    """Every map key the view SQL reads by name (``x['key']``), over all view files."""
    return frozenset(
        key.replace("''", "'")
        for name in sql_names("views")
        for key in _LOOKUP.findall(load_sql(name))
    )


def _keep_keys(array: pa.MapArray, keys: pa.Array) -> pa.MapArray:
    """``array`` with only the entries whose key is in ``keys`` (nulls stay null). The offsets of
    a sliced map array index its whole child arrays, hence the rebasing."""
    offsets = array.offsets.to_numpy()
    low, high = int(offsets[0]), int(offsets[-1])
    names = array.keys.slice(low, high - low)
    values = array.items.slice(low, high - low)
    mask = pc.is_in(names, value_set=keys).to_numpy(zero_copy_only=False)
    kept = np.concatenate([[0], np.cumsum(mask)])
    return pa.MapArray.from_arrays(
        pa.array(kept[offsets - low].astype(np.int32)),
        names.filter(mask),
        values.filter(mask),
        mask=array.is_null(),
    )


def _keep_event_keys(array: pa.ListArray, keys: pa.Array) -> pa.ListArray:
    """Every event kept, each with only the attribute entries whose key is in ``keys``."""
    offsets = array.offsets.to_numpy()
    low, high = int(offsets[0]), int(offsets[-1])
    events = array.values.slice(low, high - low)
    time, name, attributes = events.flatten()
    rebuilt = pa.StructArray.from_arrays(
        [time, name, _keep_keys(attributes, keys)],
        fields=list(EVENT),
        mask=events.is_null(),
    )
    return pa.ListArray.from_arrays(
        pa.array((offsets - low).astype(np.int32)), rebuilt, mask=array.is_null()
    )
