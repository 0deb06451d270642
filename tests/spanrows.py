"""Build span tables for tests by hand: ``span(...)`` rows in microseconds from a fixed epoch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from tracekit.schema import SPAN_SCHEMA

EPOCH = dt.datetime(2024, 3, 1, 12, 0, 0)


def span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    service: str,
    start_us: int,
    duration_us: int,
    *,
    operation: str = "op",
    kind: str = "server",
    status: str = "UNSET",
    attributes: dict[str, str] | None = None,
    links: list[dict[str, str]] | None = None,
    day_offset: int = 0,
) -> dict[str, Any]:
    """One span row in SPAN_SCHEMA form."""
    start = EPOCH + dt.timedelta(days=day_offset, microseconds=start_us)
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "service": service,
        "operation": operation,
        "kind": kind,
        "start_time": start,
        "end_time": start + dt.timedelta(microseconds=duration_us),
        "duration_us": duration_us,
        "status": status,
        "status_message": None,
        "attributes": list((attributes or {}).items()),
        "resource": [("service.name", service)],
        "links": links or [],
        "events": [],
    }


def table(rows: list[dict[str, Any]]) -> pa.Table:
    """An Arrow table in the span schema."""
    return pa.Table.from_pylist(rows, schema=SPAN_SCHEMA)
