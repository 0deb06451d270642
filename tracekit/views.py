"""The tracekit views: ``tracekit/sql/views/*.sql`` defined on a DuckDB connection."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tracekit.sqlfiles import load_sql, sql_names

if TYPE_CHECKING:
    import duckdb


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
