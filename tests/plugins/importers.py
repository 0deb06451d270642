"""Fixtures and helpers for the importer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tracekit.importers import read_file
from tracekit.schema import SPAN_SCHEMA


def rows_of(path: str | Path, **options: Any) -> list[dict[str, Any]]:
    """The span rows read from ``path``, in a canonical order (maps as sorted item lists)."""
    batches = list(read_file(path, **options))
    table = pa.Table.from_batches(batches, schema=SPAN_SCHEMA)
    rows = table.to_pylist()
    return sorted(rows, key=lambda row: repr(sorted(row.items())))


@pytest.fixture
def import_rows():
    """``import_rows(path, skip_bad=False)`` -> canonical rows (see rows_of)."""
    return rows_of
