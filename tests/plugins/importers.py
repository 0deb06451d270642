"""Fixtures and helpers for the importer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from tracekit.cli import main
from tracekit.importers import read_file
from tracekit.schema import SPAN_SCHEMA


def rows_of(path: str | Path, **options: Any) -> list[dict[str, Any]]:
    """The span rows read from ``path``, in a canonical order (maps as sorted item lists)."""
    batches = list(read_file(path, **options))
    table = pa.Table.from_batches(batches, schema=SPAN_SCHEMA)
    rows = table.to_pylist()
    return sorted(rows, key=lambda row: repr(sorted(row.items())))


CASES = Path(__file__).resolve().parent.parent / "cases" / "import"


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A row with maps as dicts and timestamps as text, as the expected-row case files write it."""

    def stamp(value: Any) -> Any:
        return None if value is None else str(value)

    out = dict(row)
    out["start_time"], out["end_time"] = stamp(row["start_time"]), stamp(row["end_time"])
    out["attributes"], out["resource"] = dict(row["attributes"]), dict(row["resource"])
    out["events"] = [
        {
            "time": stamp(event["time"]),
            "name": event["name"],
            "attributes": dict(event["attributes"]),
        }
        for event in row["events"]
    ]
    return out


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def snapshot(dataset: Path) -> tuple[str, list[tuple[str, int]]]:
    """The manifest text and every file (path, size) of a dataset."""
    files = sorted(
        (str(path.relative_to(dataset)), path.stat().st_size)
        for path in dataset.rglob("*")
        if path.is_file()
    )
    return (dataset / "manifest.json").read_text(), files
