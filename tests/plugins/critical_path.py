"""Connections over hand-built span rows for the critical-path, bottleneck and N+1 tests.

``rows_connection(table)`` runs every view file over an Arrow table used as ``span_rows`` as it
is, without the dataset's de-duplication, so tests can feed rows the dataset never stores
(duplicate span ids, as older tools wrote). ``eval_table`` reads an eval fixture with the real
importer.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from tracekit.importers import read_file
from tracekit.schema import SPAN_SCHEMA
from tracekit.views import create_views


def rows_connection(table: pa.Table) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose ``span_rows`` is ``table`` (SPAN_SCHEMA), with every view."""
    con = duckdb.connect()
    con.register("span_rows_input", table.cast(SPAN_SCHEMA))
    con.execute("CREATE VIEW span_rows AS SELECT * FROM span_rows_input")
    create_views(con)
    return con


def eval_table(path: Path) -> pa.Table:
    """The spans of a Jaeger JSON or OTLP JSON file, read by tracekit's importer."""
    return pa.Table.from_batches(list(read_file(path)), schema=SPAN_SCHEMA)
