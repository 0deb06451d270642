"""``tracekit.connect(dataset)``: a DuckDB connection with every tracekit view over a dataset."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tracekit.sqlfiles import load_sql, quote_ident, quote_literal
from tracekit.views import create_views, deferred

if TYPE_CHECKING:
    import duckdb

    from tracekit.dataset import Manifest

# The absolute paths of a table's files (``spans`` or a stored view's), by table name.
Files = Callable[[str], list[str]]

# This module is imported with the package (``tracekit.connect``), by every command before its
# own handlers are in place: it imports pyarrow and DuckDB only when a connection is made.

MEMORY_LIMIT_ENV = "TRACEKIT_MEMORY_LIMIT"
# The default memory budget of a connection: this share of the machine's memory. DuckDB's own
# default is 80%, which leaves a report's kernel and the browser little room; queries spill to a
# private folder beyond the budget instead of failing.
DEFAULT_MEMORY_SHARE = 0.5


def connect(
    dataset: str | os.PathLike[str],
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    live: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open ``dataset`` as an in-memory DuckDB database whose views read its Parquet files.

    The views (``spans``, ``traces``, ``critical_path``, ``dependencies``, ...) are defined by the
    ``tracekit/sql/views/*.sql`` files, run in name order over ``span_rows``, the stored rows.
    The per-trace ones (``tracekit.per_trace.PER_TRACE_VIEWS``) and the cross-trace ones
    (``tracekit.cross_trace.CROSS_TRACE_VIEWS``) then read the results stored when the spans were
    written, so a query pays only for reading them; on a dataset written by an older tracekit
    they are computed by the same SQL at query time.

    ``memory_limit`` (e.g. ``"4GB"``; default ``$TRACEKIT_MEMORY_LIMIT``, else half the
    machine's memory) bounds what DuckDB holds; beyond it, queries spill to a private temporary
    folder, removed when the connection is gone. ``live=True`` ignores the stored
    results and computes every view from the spans at query time, as for an old dataset (the
    benchmarks' baseline, and the tests' check that stored and computed results agree).

    >>> con = connect("data/sample")  # doctest: +SKIP
    >>> con.sql("SELECT service, count(*) FROM spans GROUP BY ALL").fetchall()  # doctest: +SKIP
    """
    from tracekit.dataset import open_dataset

    root, manifest = open_dataset(dataset)
    con = open_connection(memory_limit=memory_limit, threads=threads)
    define_views(con, committed_files(root, manifest), manifest, live=live)
    _result_set_views(con, root, manifest)
    return con


def open_connection(
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection within the memory budget (``memory_limit``, else
    ``$TRACEKIT_MEMORY_LIMIT``, else half the machine), spilling to ``temp_directory`` or else a
    private folder removed when the connection is gone."""
    import duckdb  # here, not at import: the importers' worker processes never need it

    spill = temp_directory or tempfile.mkdtemp(prefix="tracekit-spill-")
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit or os.environ.get(MEMORY_LIMIT_ENV) or default_memory_limit(),
        "temp_directory": spill,
    }
    if threads:
        config["threads"] = int(threads)
    try:
        con = duckdb.connect(config=config)
    except duckdb.Error as exc:
        if temp_directory is None:
            shutil.rmtree(spill, ignore_errors=True)
        from tracekit.errors import UserError

        raise UserError(f"memory limit {config['memory_limit']!r}: {exc}") from exc
    if temp_directory is None:
        weakref.finalize(con, shutil.rmtree, spill, True)
    return con


def committed_files(root: Path, manifest: Manifest) -> Files:
    """The absolute paths of each table's files that ``manifest`` commits."""
    from tracekit.dataset import table_files

    return lambda table: table_files(root, table, manifest)


def define_views(
    con: duckdb.DuckDBPyConnection,
    files: Files,
    manifest: Manifest,
    *,
    live: bool = False,
    stored: Iterable[str] | None = None,
) -> None:
    """Every tracekit view on ``con`` over the spans ``files(SPANS)`` names; the views of
    ``stored`` (default: every stored view, ``STORED_VIEWS``) that have files read them instead
    of computing (none with ``live`` or on a manifest of an older schema)."""
    from tracekit.dataset import SPANS
    from tracekit.per_trace import STORED_VIEWS

    # The views and macros are created over empty stand-ins, then pointed at the files: DuckDB
    # binds a table macro when it is created, reading the Parquet metadata of every file behind
    # it (1.3 s of every command at 100 days), though a query binds it again when it runs.
    span_files = files(SPANS)
    # span files hold self_us from schema version 2 on (version 2 stored fewer per-trace views:
    # its results are computed at query time until it is upgraded)
    self_times = manifest.schema_version >= 2 and bool(span_files)
    _span_views(con, [], self_times)
    create_views(con)
    _span_views(con, span_files, self_times)
    if manifest.derived and not live:
        _stored_results(con, files, STORED_VIEWS if stored is None else tuple(stored))


def default_memory_limit() -> str:
    """Half the machine's physical memory, as DuckDB spells a size."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return "4GB"
    return f"{max(1, int(total * DEFAULT_MEMORY_SHARE) // 2**20)}MB"


def _span_views(con: duckdb.DuckDBPyConnection, files: list[str], self_times: bool) -> None:
    """``span_rows`` (the stored spans in ``files``) and, where the files hold self times,
    ``stored_spans`` (the same rows with self_us, which the ``spans`` view then reads). Each
    public view reads a ``stored_*`` one, so that ``restrict_to_traces`` can narrow it. With no
    files they read an empty table of the same columns (the stand-ins the views are created on).
    """
    from tracekit.schema import DUCKDB_COLUMNS

    if files:
        source = f"read_parquet({_list(files)}, hive_partitioning = true)"
        spans_only = "date"
        rows_only = "date, self_us" if self_times else "date"
    else:
        columns = ", ".join(f"{quote_ident(k)} {v}" for k, v in DUCKDB_COLUMNS.items())
        con.execute(f"CREATE OR REPLACE TEMP TABLE span_rows_empty ({columns}, self_us BIGINT)")
        source, spans_only, rows_only = "span_rows_empty", "", "self_us"
    con.execute(
        deferred(
            "CREATE OR REPLACE VIEW stored_span_rows AS "
            f"SELECT * EXCLUDE ({rows_only}) FROM {source}"
        )
    )
    if self_times:
        exclude = f" EXCLUDE ({spans_only})" if spans_only else ""
        con.execute(
            deferred(f"CREATE OR REPLACE VIEW stored_spans AS SELECT *{exclude} FROM {source}")
        )
    con.execute(deferred("CREATE OR REPLACE VIEW span_rows AS SELECT * FROM stored_span_rows"))


def _stored_results(con: duckdb.DuckDBPyConnection, files_of: Files, names: Iterable[str]) -> None:
    """Point ``spans`` and every view of ``names`` that has files at them. Views defined on
    top of them bind when first queried (DEFER_BINDING), so they read these."""
    from tracekit.dataset import SPANS
    from tracekit.per_trace import STORED_ORDER

    if files_of(SPANS):
        con.execute(deferred("CREATE OR REPLACE VIEW spans AS SELECT * FROM stored_spans"))
    for name in names:
        files = files_of(name)
        if not files:
            continue
        con.execute(
            deferred(f"CREATE VIEW stored_{name} AS SELECT * FROM read_parquet({_list(files)})")
        )
        order = f" ORDER BY {STORED_ORDER[name]}" if name in STORED_ORDER else ""
        con.execute(
            deferred(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM stored_{name}{order}")
        )


def _result_set_views(con: duckdb.DuckDBPyConnection, root: Path, manifest: Manifest) -> None:
    """A result set (``tracekit.result_set``: a dataset folder that also holds ``results.json``,
    as ``tracekit spark-analyze`` writes it): its whole-data results as views in the schema
    ``spark`` (``spark.bottlenecks``, ...), while they describe exactly the files ``manifest``
    commits. They are not put in place of the ordinary views, which a report window narrows."""
    from tracekit.result_set import RESULTS_SCHEMA, read_result_set

    results = read_result_set(root)
    if results is None or not results.describes(entry.path for entry in manifest.files):
        return
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RESULTS_SCHEMA}")
    for name, table in results.tables.items():
        files = _list([str(root / path) for path in table.files])
        con.execute(
            f"CREATE VIEW {RESULTS_SCHEMA}.{quote_ident(name)} WITH (DEFER_BINDING) AS "
            f"SELECT * FROM read_parquet({files})"
        )


def narrow_to_traces_in(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    services: Iterable[str] = (),
    *,
    table: str,
) -> tuple[int, int]:
    """Narrow every view of ``con`` to its traces that start in [start, end) and, when
    ``services`` are named, touch one of them (a report window, a capacity replay's stretch).
    Their ids go to ``table``; returns the spans and traces kept. When that is every trace the
    views see, they are left as they are.
    """
    con.execute(
        f"CREATE OR REPLACE TABLE {quote_ident(table)} AS {load_sql('report/window_traces.sql')}",
        {"start": start, "end": end, "services": list(services)},
    )
    spans, traces, everything = con.execute(
        "SELECT coalesce(sum(span_count), 0)::BIGINT, count(*), "
        f"count(*) = (SELECT count(*) FROM traces) FROM {quote_ident(table)}"
    ).fetchall()[0]
    if not everything:
        restrict_to_traces(con, table, since=start)
    return int(spans), int(traces)


def restrict_to_traces(
    con: duckdb.DuckDBPyConnection, traces: str, *, since: datetime | None = None
) -> None:
    """Narrow every view of ``con`` to the traces whose ids the table ``traces`` holds (a
    report window): ``span_rows``, ``spans`` and the stored per-trace views read only those, and
    every view built on them follows. ``since``, when given, is the earliest trace start: spans
    starting before it are skipped without looking them up (their row groups are not read).
    """
    from tracekit.per_trace import STORED_ORDER

    names = [
        name
        for (name,) in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name LIKE 'stored%'"
        ).fetchall()
    ]
    for stored in names:
        public = "span_rows" if stored == "stored_span_rows" else stored.removeprefix("stored_")
        time_filter = ""
        if since is not None and public in ("span_rows", "spans"):
            time_filter = f"start_time >= TIMESTAMP {quote_literal(str(since))} AND "
        order = f" ORDER BY {STORED_ORDER[public]}" if public in STORED_ORDER else ""
        con.execute(
            f"CREATE OR REPLACE VIEW {public} AS SELECT * FROM {stored} "
            f"WHERE {time_filter}trace_id IN (SELECT trace_id FROM {quote_ident(traces)}){order}"
        )


def _list(paths: list[str]) -> str:
    return "[" + ", ".join(quote_literal(path) for path in paths) + "]"
