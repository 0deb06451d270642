"""Turn the traces export fetched into span rows, with the importers' own converters.

Export never converts spans itself: a v3 answer is OTLP JSON and a classic answer is Jaeger
JSON, exactly what ``tracekit import`` reads from files, so both go through tracekit.importers.
What export needs from them: a function taking an already parsed document (dict) and returning
Arrow data in ``SPAN_SCHEMA`` (a table or record batches).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tracekit.schema import SPAN_SCHEMA

if TYPE_CHECKING:
    from tracekit.export.api import ClassicApi, TraceDoc, V3Api


def docs_to_table(api: V3Api | ClassicApi, docs: list[TraceDoc]) -> pa.Table:
    """Span rows of `docs` (traces from one API) as one table in SPAN_SCHEMA."""
    if not docs:
        return SPAN_SCHEMA.empty_table()
    document = api.document(docs)
    if api.name == "v3":
        from tracekit.importers import otlp_json

        converted: Any = otlp_json.convert_document(document)
    else:
        from tracekit.importers import jaeger_json

        converted = jaeger_json.convert_document(document)
    return _as_table(converted)


def _as_table(converted: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]) -> pa.Table:
    if isinstance(converted, pa.Table):
        table = converted
    elif isinstance(converted, pa.RecordBatch):
        table = pa.Table.from_batches([converted])
    else:
        batches = list(converted)
        if not batches:
            return SPAN_SCHEMA.empty_table()
        table = pa.Table.from_batches(batches)
    if not table.schema.equals(SPAN_SCHEMA):
        table = table.select(SPAN_SCHEMA.names).cast(SPAN_SCHEMA)
    return table
