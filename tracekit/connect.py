"""``tracekit.connect(dataset)``: a DuckDB connection with every tracekit view over a dataset."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from tracekit.dataset import dataset_files, open_dataset
from tracekit.schema import DUCKDB_COLUMNS
from tracekit.sqlfiles import load_sql, quote_ident, quote_literal, sql_names

if TYPE_CHECKING:
    import duckdb


def connect(
    dataset: str | os.PathLike[str], *, memory_limit: str | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """Open ``dataset`` as an in-memory DuckDB database whose views read its Parquet files.

    The views (``spans``, ``traces``, ``critical_path``, ``dependencies``, ...) are defined by the
    ``tracekit/sql/views/*.sql`` files, run in name order over ``span_rows``, the stored rows.

    >>> con = connect("data/sample")  # doctest: +SKIP
    >>> con.sql("SELECT service, count(*) FROM spans GROUP BY ALL").fetchall()  # doctest: +SKIP
    """
    import duckdb  # here, not at import: the importers' worker processes never need it

    root, manifest = open_dataset(dataset)
    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    files = dataset_files(root, manifest)
    if files:
        listing = "[" + ", ".join(quote_literal(path) for path in files) + "]"
        con.execute(
            deferred(
                "CREATE VIEW span_rows AS SELECT * EXCLUDE (date) FROM "
                f"read_parquet({listing}, hive_partitioning = true)"
            )
        )
    else:
        columns = ", ".join(f"{quote_ident(k)} {v}" for k, v in DUCKDB_COLUMNS.items())
        con.execute(f"CREATE TEMP TABLE span_rows_empty ({columns})")
        con.execute("CREATE VIEW span_rows AS SELECT * FROM span_rows_empty")
    create_views(con)
    return con


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """Define every tracekit view and macro on ``con`` over its existing ``span_rows``: the
    ``tracekit/sql/views/*.sql`` files in name order (a file may use the views of lower numbers).
    """
    for name in sql_names("views"):
        con.execute(deferred(load_sql(name)))


_VIEW = re.compile(r"(CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+)?VIEW\s+\w+)\s+AS\b", re.IGNORECASE)


def deferred(sql: str) -> str:
    """``sql`` with its views created ``WITH (DEFER_BINDING)``: DuckDB then binds a view when a
    query first uses it, not when it is created. Binding all of them (and reading the Parquet
    schema behind ``span_rows``) was most of the time ``connect`` took, ~0.3 s, paid by every
    command however few views it used.

    >>> deferred("CREATE OR REPLACE VIEW traces AS SELECT 1")
    'CREATE OR REPLACE VIEW traces WITH (DEFER_BINDING) AS SELECT 1'
    """
    return _VIEW.sub(r"\1 WITH (DEFER_BINDING) AS", sql)
