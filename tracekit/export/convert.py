"""Turn the traces export fetched into span rows, with the importers' own converters.

Export never converts spans itself: a v3 answer is OTLP JSON and a classic answer is Jaeger
JSON, exactly what ``tracekit import`` reads from files, so both go through tracekit.importers.
Export hands them the JSON bytes of the traces it keeps (sliced out of Jaeger's answers without
re-encoding) and gets record batches in ``SPAN_SCHEMA`` back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from tracekit.errors import UserError
from tracekit.importers import BadInput, jaeger_to_batches, otlp_to_batches
from tracekit.schema import SPAN_SCHEMA

if TYPE_CHECKING:
    from tracekit.export.api import ClassicApi, TraceDoc, V3Api


def docs_to_table(api: V3Api | ClassicApi, docs: list[TraceDoc]) -> pa.Table:
    """Span rows of `docs` (traces from one API) as one table in SPAN_SCHEMA.

    Raises UserError when Jaeger sent spans the importers reject (the message says where).
    """
    if not docs:
        return SPAN_SCHEMA.empty_table()
    document = api.document(docs)
    convert = otlp_to_batches if api.name == "v3" else jaeger_to_batches
    try:
        batches = list(convert(document))
    except BadInput as exc:
        raise UserError(f"Jaeger {api.name} answer: spans tracekit cannot read: {exc}") from exc
    if not batches:
        return SPAN_SCHEMA.empty_table()
    return pa.Table.from_batches(batches, schema=SPAN_SCHEMA)
