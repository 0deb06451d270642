"""The compiled fast path for Jaeger JSON (``native/``, the ``tracekit_native`` module).

``make install`` builds it with cargo (crates pinned by ``native/Cargo.lock``). For a Jaeger
``/api/traces`` document (``{"data": [...]}``) it parses the JSON and maps the spans in Rust,
exactly as ``jaeger_json.traces_batch`` does, and hands back Arrow buffers; for anything it does
not cover (see ``native/src/lib.rs``) it answers None and the Python importer maps the document,
naming any problem. Without the module (no Rust toolchain at install) every document takes the
Python path: slower, the same rows.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa

from tracekit.schema import EVENT, LINK, SPAN_SCHEMA, STRING_MAP

try:
    import tracekit_native as _native
except ImportError:  # built by `make install` when cargo is there
    _native = None

native: ModuleType | None = _native


def available() -> bool:
    """True when the compiled converter is installed."""
    return native is not None


def jaeger_batch(payload: bytes) -> pa.RecordBatch | None:
    """All spans of a Jaeger ``{"data": [...]}`` document as one RecordBatch (SPAN_SCHEMA), or
    None when the Python importer must map it (or the module is not built)."""
    if native is None:
        return None
    columns = native.jaeger_columns(payload)
    if columns is None:
        return None
    return _batch(columns)


def _batch(columns: dict[str, Any]) -> pa.RecordBatch:
    rows = columns["rows"]
    start = np.frombuffer(columns["start_time"], np.int64)
    duration = np.frombuffer(columns["duration_us"], np.int64)
    timestamp = pa.timestamp("us")
    links = pa.ListArray.from_arrays(
        _offsets(columns, "links", rows),
        pa.StructArray.from_arrays(
            [_strings(columns, f"links.{field.name}") for field in LINK], fields=list(LINK)
        ),
    )
    events_count = len(columns["events.time"]) // 8
    events = pa.ListArray.from_arrays(
        _offsets(columns, "events", rows),
        pa.StructArray.from_arrays(
            [
                pa.array(np.frombuffer(columns["events.time"], np.int64), timestamp),
                _strings(columns, "events.name"),
                _map(columns, "events.attributes", events_count),
            ],
            fields=list(EVENT),
        ),
    )
    return pa.RecordBatch.from_arrays(
        [
            _strings(columns, "trace_id"),
            _strings(columns, "span_id"),
            _strings(columns, "parent_span_id"),
            _strings(columns, "service"),
            _strings(columns, "operation"),
            _strings(columns, "kind"),
            pa.array(start, timestamp),
            pa.array(start + duration, timestamp),
            pa.array(duration),
            _strings(columns, "status"),
            _strings(columns, "status_message"),
            _map(columns, "attributes", rows),
            _map(columns, "resource", rows),
            links,
            events,
        ],
        schema=SPAN_SCHEMA,
    )


def _strings(columns: dict[str, Any], name: str) -> pa.Array:
    offsets = columns[f"{name}.offsets"]
    validity = columns.get(f"{name}.validity")
    return pa.StringArray.from_buffers(
        len(offsets) // 4 - 1,
        pa.py_buffer(offsets),
        pa.py_buffer(columns[f"{name}.data"]),
        pa.py_buffer(validity) if validity is not None else None,
        columns[f"{name}.nulls"],
    )


def _offsets(columns: dict[str, Any], name: str, count: int) -> pa.Array:
    return pa.Array.from_buffers(
        pa.int32(), count + 1, [None, pa.py_buffer(columns[f"{name}.offsets"])]
    )


def _map(columns: dict[str, Any], name: str, count: int) -> pa.Array:
    return pa.MapArray.from_arrays(
        _offsets(columns, name, count),
        _strings(columns, f"{name}.keys"),
        _strings(columns, f"{name}.values"),
        type=STRING_MAP,
    )
