"""Read-only ad-hoc SQL over a dataset: what ``tracekit sql`` runs."""

from __future__ import annotations

import os

import duckdb
import pyarrow as pa

from tracekit.connect import connect
from tracekit.errors import UserError

# Statement types that only read. Anything else (COPY, INSERT, ATTACH, SET, ...) is refused, so
# an analyst's query can neither change the dataset nor write files next to it.
_READ_ONLY = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
}


def run_query(dataset: str | os.PathLike[str], query: str) -> pa.Table:
    """Run one read-only SQL query on the dataset's views and return the result as Arrow.

    >>> run_query("data/sample", "SELECT count(*) AS n FROM spans")  # doctest: +SKIP
    """
    con = connect(dataset)
    try:
        try:
            statements = con.extract_statements(query)
        except duckdb.Error as exc:
            raise UserError(f"query: {_first_line(exc)}") from exc
        if not statements:
            raise UserError("query: empty query")
        for statement in statements:
            if statement.type not in _READ_ONLY:
                raise UserError(
                    f"query: only SELECT queries are allowed here, not {statement.type.name}"
                )
        # Files are readable only inside the dataset, and the query cannot undo that.
        root = os.path.abspath(dataset).rstrip("/") + "/"
        con.execute("SET allowed_directories = [$root]", {"root": root})
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            *first, last = statements
            for statement in first:
                con.execute(statement)
            return con.sql(last.query).to_arrow_table()
        except duckdb.Error as exc:
            raise UserError(f"query: {_first_line(exc)}") from exc
    finally:
        con.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
