"""Printing query results as a text table, CSV or JSON (``--format table|csv|json``)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
from typing import Any, TextIO

import pyarrow as pa

FORMATS = ("table", "csv", "json")


def write_result(table: pa.Table, fmt: str, stream: TextIO) -> None:
    """Write an Arrow table to ``stream`` in one of FORMATS."""
    rows = table.to_pylist(maps_as_pydicts="lossy")
    if fmt == "json":
        json.dump(rows, stream, default=_json_default, ensure_ascii=False, indent=1)
        stream.write("\n")
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in rows:
            writer.writerow([_text(value) for value in row.values()])
    elif fmt == "table":
        _write_text_table(table.column_names, rows, stream)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def _write_text_table(names: list[str], rows: list[dict[str, Any]], stream: TextIO) -> None:
    cells = [[_text(value) for value in row.values()] for row in rows]
    widths = [len(name) for name in names]
    for line in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, line, strict=True)]
    numeric = [
        all(
            isinstance(row[name], int | float | decimal.Decimal) or row[name] is None
            for row in rows
        )
        and rows != []
        for name in names
    ]

    def fmt(line: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(line, widths, numeric, strict=True)
        ).rstrip()

    stream.write(fmt(names) + "\n")
    stream.write("  ".join("-" * width for width in widths) + "\n")
    for line in cells:
        stream.write(fmt(line) + "\n")
    stream.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.6g}" if abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
