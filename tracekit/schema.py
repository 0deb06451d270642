"""The canonical span schema: one Arrow schema every importer, the simulator and export write.

DESIGN.md is the contract; columns here are in its order. ``start_time``/``end_time`` are UTC
timestamps with microsecond precision stored without a zone (DuckDB ``TIMESTAMP``).
"""

from __future__ import annotations

import re

import pyarrow as pa

# 1: span rows only. 2: span files also hold each span's self_us, and per-trace results
# (tracekit.per_trace) are stored beside them. 3: span_self_time and span_calls are stored too
# (the per-trace kernel computes them at write time), so a version-2 dataset, which lacks them,
# is read as an old one (its results computed by the view SQL) and upgraded on its next write.
# 4: the per-trace message views (message producers, consumer spans, links, the spans under and
# after each send) are stored too, so that matching messages across traces reads only them.
# 5: span_outcomes (the funnel's evidence) is stored too. 6: span_error_counts too.
SCHEMA_VERSION = 6

KINDS = ("server", "client", "producer", "consumer", "internal", "unspecified")
STATUSES = ("OK", "ERROR", "UNSET")

STRING_MAP = pa.map_(pa.string(), pa.string())
LINK = pa.struct([("trace_id", pa.string()), ("span_id", pa.string()), ("kind", pa.string())])
EVENT = pa.struct([("time", pa.timestamp("us")), ("name", pa.string()), ("attributes", STRING_MAP)])

SPAN_SCHEMA = pa.schema(
    [
        pa.field("trace_id", pa.string(), nullable=False),
        pa.field("span_id", pa.string(), nullable=False),
        pa.field("parent_span_id", pa.string()),
        pa.field("service", pa.string()),
        pa.field("operation", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("start_time", pa.timestamp("us"), nullable=False),
        pa.field("end_time", pa.timestamp("us"), nullable=False),
        pa.field("duration_us", pa.int64(), nullable=False),
        pa.field("status", pa.string()),
        pa.field("status_message", pa.string()),
        pa.field("attributes", STRING_MAP),
        pa.field("resource", STRING_MAP),
        pa.field("links", pa.list_(LINK)),
        pa.field("events", pa.list_(EVENT)),
    ]
)

COLUMNS = tuple(SPAN_SCHEMA.names)

# What a dataset's span files hold: the span schema plus each span's self time (its duration
# minus the union of its children's intervals clipped to it), computed per trace when written.
STORED_SPAN_SCHEMA = SPAN_SCHEMA.append(pa.field("self_us", pa.int64()))

# The same schema as DuckDB column definitions, for SQL that builds span rows.
DUCKDB_COLUMNS = {
    "trace_id": "VARCHAR",
    "span_id": "VARCHAR",
    "parent_span_id": "VARCHAR",
    "service": "VARCHAR",
    "operation": "VARCHAR",
    "kind": "VARCHAR",
    "start_time": "TIMESTAMP",
    "end_time": "TIMESTAMP",
    "duration_us": "BIGINT",
    "status": "VARCHAR",
    "status_message": "VARCHAR",
    "attributes": "MAP(VARCHAR, VARCHAR)",
    "resource": "MAP(VARCHAR, VARCHAR)",
    "links": "STRUCT(trace_id VARCHAR, span_id VARCHAR, kind VARCHAR)[]",
    "events": "STRUCT(time TIMESTAMP, name VARCHAR, attributes MAP(VARCHAR, VARCHAR))[]",
}


def normalize_trace_id(trace_id: str) -> str:
    """Lower-case hex ids, left-padded to 32 chars; other ids are kept as given.

    >>> normalize_trace_id("ABCDEF0123456789")
    '0000000000000000abcdef0123456789'
    >>> normalize_trace_id("A")
    'A'
    """
    if len(trace_id) in (16, 32) and _is_hex(trace_id):
        return trace_id.lower().rjust(32, "0")
    return trace_id


def normalize_span_id(span_id: str) -> str:
    """Lower-case hex span ids of 16 chars; other ids are kept as given."""
    if len(span_id) == 16 and _is_hex(span_id):
        return span_id.lower()
    return span_id


# a C-speed check: ids are normalised once per span and reference on import and export
_is_hex = re.compile(r"[0-9a-fA-F]+").fullmatch


def empty_table() -> pa.Table:
    """A table with the span schema and no rows."""
    return SPAN_SCHEMA.empty_table()
