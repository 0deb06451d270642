"""Per-trace results: everything that depends on one trace's spans only, computed once.

Self time, trace summaries, critical-path segments, calls, error origins, N+1 runs and telemetry
loss need a whole trace and nothing else. They are computed when spans are written (for exactly
the traces that gain spans: ``tracekit.dataset``), by Spark tasks per bucket of traces, and at
connect time for a dataset written by an older tracekit (``compute_views``); the views then read
the results.

Most of them are computed by the compiled per-trace kernel (``tracekit.kernel``), the one
definition of their semantics; what the semantic conventions say about each span comes from
their macros (``sql/kernel/span_facts.sql``). ``error_origins`` stays SQL
(``sql/views/21_errors.sql``: a recursive walk with its timeout, failed and recovered rules)
and runs on the kernel's results, over the traces holding an error only. A view may be listed in
``PER_TRACE_VIEWS`` only if its rows for a trace depend on that trace's spans alone; cross-trace
views (message matches through links or ids, funnels, quantiles over all traces) stay computed
at query time by SQL that reads these by name.

>>> results = compute_per_trace(spans)  # doctest: +SKIP
>>> results.tables["critical_path"].num_rows  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracekit.schema import EVENT, SPAN_SCHEMA
from tracekit.sqlfiles import load_sql, sql_names
from tracekit.views import deferred

if TYPE_CHECKING:
    import duckdb

# The per-trace views, each stored as a table of its own. The kernel computes every one but
# error_origins, which its SQL computes from the kernel's trace_roots and span_calls.
PER_TRACE_VIEWS: tuple[str, ...] = (
    "span_self_time",
    "trace_roots",
    "traces",
    "cross_service_spans",
    "critical_path",
    "critical_path_charges",
    "span_calls",
    "error_origins",
    # n_plus_one itself compares call patterns across traces: computed at query time
    "n_plus_one_runs",
    "call_patterns",
    "telemetry_loss",
)
# What error_origins reads besides span_rows: kernel results, handed to its SQL.
_ERROR_INPUTS = ("trace_roots", "span_calls")

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
    """Computes the per-trace results of bucket after bucket: the kernel, and one DuckDB
    connection for the conventions' facts and error_origins (its memory budget bounds what a
    bucket may hold there; beyond it DuckDB spills to ``temp_directory``)."""

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
        self._defined = False
        self._errors_defined = False

    def __enter__(self) -> PerTraceRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def compute(self, spans: pa.Table) -> PerTraceResults:
        """The per-trace results of ``spans`` (see ``compute_per_trace``)."""
        from tracekit.kernel.tables import kernel_tables

        rows = spans.select(SPAN_SCHEMA.names)
        facts = self._facts(rows)
        results = kernel_tables(rows, facts)
        tables = dict(results.tables)
        tables["error_origins"] = self._error_origins(rows, tables)
        return PerTraceResults(
            self_us=results.self_us, tables={name: tables[name] for name in PER_TRACE_VIEWS}
        )

    def _facts(self, rows: pa.Table) -> pa.Table:
        """The rows of ``sql/kernel/span_facts.sql`` for ``rows``, in their order."""
        if not self._defined:
            self.con.execute(load_sql("views/05_conventions.sql"))
            self._defined = True
        self.con.register("kernel_input", slim(rows))
        try:
            return self.con.sql(load_sql("kernel/span_facts.sql")).to_arrow_table()
        finally:
            self.con.unregister("kernel_input")

    def _error_origins(self, rows: pa.Table, tables: dict[str, pa.Table]) -> pa.Table:
        """error_origins by its SQL, over the traces holding an ERROR span or failed."""
        traces = tables["traces"]
        errored = traces.filter(pc.or_(pc.greater(traces["error_count"], 0), traces["failed"]))[
            "trace_id"
        ]
        con = self.con
        chosen = {
            "span_rows": slim(rows.filter(pc.is_in(rows["trace_id"], value_set=errored))),
            **{
                name: tables[name].filter(pc.is_in(tables[name]["trace_id"], value_set=errored))
                for name in _ERROR_INPUTS
            },
        }
        for name, table in chosen.items():
            con.register(f"errored_{name}", table)
        try:
            if not self._errors_defined:
                # span_errors and error_origins (the file's other views are defined too,
                # unused) over the tables registered above (its macros bind at once)
                for name in chosen:
                    con.execute(deferred(f"CREATE VIEW {name} AS SELECT * FROM errored_{name}"))
                con.execute(deferred(load_sql("views/21_errors.sql")))
                self._errors_defined = True
            return con.sql("SELECT * FROM error_origins").to_arrow_table()
        finally:
            for name in chosen:
                con.unregister(f"errored_{name}")


# A bucket of the spans a connection computes its per-trace views from (compute_views):
# about this many spans (whole traces) at a time.
ROWS_PER_BUCKET = 64_000


def compute_views(con: duckdb.DuckDBPyConnection, *, source: str = "span_rows") -> None:
    """Compute every per-trace view of ``con`` from its spans (``source``) with the kernel,
    bucket by bucket of whole traces, into tables ``computed_<view>``, and point the views at
    them: what ``tracekit.connect`` does for a dataset whose results are not stored (written by
    an older tracekit) or with ``live=True``."""
    total = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    buckets = max(1, math.ceil(total / ROWS_PER_BUCKET))
    columns = ", ".join(SPAN_SCHEMA.names)
    created = False
    with PerTraceRunner() as runner:
        for bucket in range(buckets):
            spans = con.sql(
                f"SELECT {columns} FROM {source} WHERE hash(trace_id) % $buckets = $bucket",
                params={"buckets": buckets, "bucket": bucket},
            ).to_arrow_table()
            if not spans.num_rows and created:
                continue
            results = runner.compute(spans.cast(SPAN_SCHEMA))
            for name, table in results.tables.items():
                con.register("computed_input", table)
                if created:
                    con.execute(f"INSERT INTO computed_{name} SELECT * FROM computed_input")
                else:
                    con.execute(
                        f"CREATE OR REPLACE TEMP TABLE computed_{name} AS "
                        "SELECT * FROM computed_input"
                    )
                con.unregister("computed_input")
            created = True
    for name in PER_TRACE_VIEWS:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM computed_{name}")


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
