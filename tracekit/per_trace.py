"""Per-trace results: everything that depends on one trace's spans only, computed once.

Self time, trace summaries, critical-path segments, calls, error origins, N+1 runs, telemetry
loss and the messages' per-trace views need a whole trace and nothing else. They are computed
when spans are written (for exactly the traces that gain spans: ``tracekit.dataset``) and by
Spark tasks per bucket of traces; the views then read the stored results.

The compiled per-trace kernel (``tracekit.kernel``) computes those (``KERNEL_VIEWS``); what the
semantic conventions say about each span comes from their macros (``sql/kernel/span_facts.sql``,
and ``span_errors`` in ``sql/views/21_errors.sql`` for the few spans where errors began). Span
outcomes, the critical path's charges per trace and the error counts (``SQL_VIEWS``) are
computed by their own SQL on each bucket. The view SQL (``sql/views/*.sql``) stays the
definition the kernel must match
(tests/test_kernel_equivalence.py) and what ``connect(live=True)`` and a dataset written by an
older tracekit compute at query time. A view may be listed in ``PER_TRACE_VIEWS`` only if its
rows for a trace depend on that trace's spans alone; cross-trace views read these by name, and
a few of them are stored too (``tracekit.cross_trace``), the rest (funnels, quantiles over all
traces) computed at query time.

>>> results = compute_per_trace(spans)  # doctest: +SKIP
>>> results.tables["critical_path"].num_rows  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracekit.cross_trace import CROSS_TRACE_VIEWS
from tracekit.schema import EVENT, SPAN_SCHEMA
from tracekit.sqlfiles import load_sql, sql_names
from tracekit.views import deferred

if TYPE_CHECKING:
    import duckdb

# The per-trace views the kernel computes.
KERNEL_VIEWS: tuple[str, ...] = (
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
    # the messages' (sql/views/40_messages.sql; tracekit.kernel.messages)
    "message_producers",
    "consumer_spans",
    "span_links",
    "message_children",
    "message_orphans",
)

# The per-trace views computed by their own SQL on each bucket, in this order (a view may read
# those before it, and the kernel's): span_outcomes (sql/views/41_span_outcomes.sql), the spans
# a funnel takes as evidence with how they went; trace_charges (sql/views/45_charges.sql), the
# kernel's critical-path charges summed per trace and group, which the bottleneck ranking reads;
# and span_error_counts (sql/views/21_errors.sql), what the error breakdowns sum.
SQL_VIEWS: tuple[str, ...] = (
    "span_outcomes",
    "trace_charges",
    "span_error_counts",
)
# The files that define them (40_messages.sql for its macro taker_failed), run on the bucket's
# own connection.
SQL_VIEW_FILES = (
    "views/20_latency.sql",
    "views/21_errors.sql",
    "views/40_messages.sql",
    "views/41_span_outcomes.sql",
    "views/45_charges.sql",
)
# Every per-trace view, each stored as a table of its own.
PER_TRACE_VIEWS: tuple[str, ...] = KERNEL_VIEWS + SQL_VIEWS
# Every view whose results a dataset stores: the per-trace ones and the cross-trace ones
# (tracekit.cross_trace), which each write computes again over the whole dataset.
STORED_VIEWS: tuple[str, ...] = PER_TRACE_VIEWS + CROSS_TRACE_VIEWS

# The row order a per-trace view's SQL promises (its final ORDER BY), kept when it is read from
# stored files, which hold rows in the order they were written, file after file.
STORED_ORDER = {"telemetry_loss": "start_time, trace_id, kind, span_id"}

SELF_US = "self_us"
# The prefix under which PerTraceRunner keeps each SQL view's own definition.
_DEFINITION = "definition_"


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
    connection for the conventions' facts and the messages of the spans where errors began (its
    memory budget bounds what a bucket may hold there; beyond it DuckDB spills to
    ``temp_directory``)."""

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
        # SQL_VIEWS run on a connection of their own, whose span_rows is the bucket, on one
        # thread: their joins over a bucket are too small to share out (a second thread ran
        # them no faster over the import benchmark's buckets and spent ~1 CPU-s more, which the
        # thread writing Parquet beside them lacked)
        self.views_con = duckdb.connect(config=config | {"threads": 1})
        self._defined = False
        self._errors_defined = False
        self._views_defined = False

    def __enter__(self) -> PerTraceRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()
        self.views_con.close()

    def compute(self, spans: pa.Table) -> PerTraceResults:
        """The per-trace results of ``spans`` (see ``compute_per_trace``)."""
        from tracekit.kernel.tables import kernel_tables

        # the kernel reads no map entry itself: handing it the slim rows makes the few rows
        # error_facts reads cheap to take
        rows = slim(spans.select(SPAN_SCHEMA.names))
        results = kernel_tables(rows, self._facts(rows), self._error_facts)
        kernel = {name: results.tables[name] for name in KERNEL_VIEWS}
        return PerTraceResults(
            self_us=results.self_us,
            tables=kernel | self._sql_views(rows, kernel),
        )

    def _sql_views(self, rows: pa.Table, kernel: dict[str, pa.Table]) -> dict[str, pa.Table]:
        """The rows of ``SQL_VIEWS`` for ``rows`` (slim), by the views' own SQL over the bucket,
        the kernel's results standing in for the views they are the rows of; each view, once
        computed, stands in for itself for the views after it.

        The bucket's spans, which every view reads, are copied into a DuckDB table first: read
        from Arrow, every view converted the spans again (~0.8 s of the views' 2.9 s over the
        15 buckets of the import benchmark; 2.1 s with the table)."""
        con = self.views_con
        tables: dict[str, pa.Table] = {}
        registered = list(kernel)
        try:
            con.register("arrow_span_rows", rows)
            con.execute("CREATE OR REPLACE TEMP TABLE bucket_span_rows AS FROM arrow_span_rows")
            con.unregister("arrow_span_rows")
            for name, table in kernel.items():
                con.register(f"bucket_{name}", table)
            if not self._views_defined:
                self._define_views(["span_rows", *kernel])
            for name in SQL_VIEWS:
                tables[name] = con.sql(f"SELECT * FROM {_DEFINITION}{name}").to_arrow_table()
                # its stand-in, for the views after it, reads this bucket's rows
                con.register(f"bucket_{name}", tables[name])
                registered.append(name)
                if not self._views_defined:
                    _stand_in(con, [name])
            self._views_defined = True
        finally:
            for name in registered:
                con.unregister(f"bucket_{name}")
            con.execute("DROP TABLE IF EXISTS bucket_span_rows")
        return tables

    def _define_views(self, stand_ins: list[str]) -> None:
        """Define SQL_VIEWS once on ``views_con``, each under ``_DEFINITION`` + its name: its
        own name is left for a stand-in reading ``bucket_<name>``, which each bucket registers
        anew. Defining the files' views per bucket cost ~0.07 s a bucket (1 s of an import of
        480k spans)."""
        con = self.views_con
        con.execute(load_sql("views/05_conventions.sql"))
        # the files' macros bind at once: what they read must exist before them
        _stand_in(con, stand_ins)
        for name in SQL_VIEW_FILES:
            con.execute(deferred(load_sql(name)))
        _stand_in(con, stand_ins)  # the files' own views of those names give way
        for name in SQL_VIEWS:
            con.execute(f"ALTER VIEW {name} RENAME TO {_DEFINITION}{name}")

    def _facts(self, rows: pa.Table) -> pa.Table:
        """The rows of ``sql/kernel/span_facts.sql`` for ``rows`` (slim), in their order."""
        if not self._defined:
            self.con.execute(load_sql("views/05_conventions.sql"))
            self._defined = True
        self.con.register("kernel_input", rows)
        try:
            return self.con.sql(load_sql("kernel/span_facts.sql")).to_arrow_table()
        finally:
            self.con.unregister("kernel_input")

    def _error_facts(self, rows: pa.Table) -> pa.Table:
        """http_status, exception_type and error_message of ``rows`` (the spans where errors
        began; slim), from ``span_errors`` (``sql/views/21_errors.sql``), in their order."""
        con = self.con
        con.register("errored_spans", rows)
        try:
            if not self._errors_defined:
                # span_errors over the rows registered above (the file's macros bind at once)
                con.execute(deferred("CREATE VIEW span_rows AS SELECT * FROM errored_spans"))
                con.execute(deferred(load_sql("views/21_errors.sql")))
                self._errors_defined = True
            return con.sql(
                "SELECT http_status, exception_type, error_message FROM span_errors"
            ).to_arrow_table()
        finally:
            con.unregister("errored_spans")


def _stand_in(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    """Point each view of ``names`` at the table registered as ``bucket_<name>``."""
    for name in names:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM bucket_{name}")


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
