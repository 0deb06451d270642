"""Fixtures and helpers for the importer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import need
from tracekit.cli import main
from tracekit.importers import native, read_file
from tracekit.importers.documents import document_batches
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


# ---- the compiled converter (tracekit.importers.native) against the Python importer ----


def compiled_or_skip() -> None:
    """Skip (fail in CI) when the compiled converter is not built."""
    need(
        native.available(),
        "the compiled converter (native/)",
        "install Rust (https://rustup.rs), then `make install` builds it",
    )


def python_rows(payload: bytes, monkeypatch: pytest.MonkeyPatch) -> pa.Table | None:
    """The Python importer's rows for ``payload`` (the compiled path switched off)."""
    with monkeypatch.context() as patch:
        patch.setattr(native, "native", None)
        batches = list(document_batches(payload))
    return pa.Table.from_batches(batches, schema=batches[0].schema) if batches else None


def assert_same(payload: bytes, monkeypatch: pytest.MonkeyPatch, *, must_map: bool) -> bool:
    """The compiled rows of ``payload`` equal the Python importer's; returns whether the
    compiled path mapped it (``must_map``: it has to)."""
    batch = native.jaeger_batch(payload)
    if batch is None:
        assert not must_map, "the compiled converter left a plain document to Python"
        return False
    expected = python_rows(payload, monkeypatch)
    got = pa.Table.from_batches([batch])
    if expected is None:
        assert got.num_rows == 0
        return True
    assert got.schema == expected.schema
    for name in expected.column_names:
        left, right = got[name].to_pylist(), expected[name].to_pylist()
        if left != right:
            row = next(i for i, (a, b) in enumerate(zip(left, right, strict=True)) if a != b)
            pytest.fail(f"{name}[{row}]: compiled {left[row]!r}, Python {right[row]!r}")
    assert got.equals(expected)
    return True


def spans_per_trace(batch: pa.RecordBatch) -> dict[str, int]:
    """How many spans of each trace ``batch`` holds."""
    counts = pa.Table.from_batches([batch]).group_by("trace_id").aggregate([("span_id", "count")])
    return dict(
        zip(counts["trace_id"].to_pylist(), counts["span_id_count"].to_pylist(), strict=True)
    )
