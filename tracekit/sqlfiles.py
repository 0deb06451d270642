"""SQL lives in ``tracekit/sql/*.sql``; this module reads those files and quotes identifiers."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_sql(name: str) -> str:
    """The text of ``tracekit/sql/<name>``, e.g. ``load_sql("views/10_spans.sql")``."""
    return resources.files("tracekit").joinpath("sql", name).read_text()


def sql_names(folder: str) -> list[str]:
    """Names of the ``.sql`` files in ``tracekit/sql/<folder>``, sorted (their run order)."""
    root = resources.files("tracekit").joinpath("sql", folder)
    return sorted(
        f"{folder}/{entry.name}" for entry in root.iterdir() if entry.name.endswith(".sql")
    )


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB, doubling embedded quotes: ``my col`` -> ``"my col"``."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal for the few places DuckDB takes no parameter (COPY targets)."""
    return "'" + text.replace("'", "''") + "'"
