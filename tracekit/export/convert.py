"""Turn the traces export fetched into span rows, with the importers' own converters.

Export never converts spans itself: a v3 answer is OTLP JSON and a classic answer is Jaeger
JSON, exactly what ``tracekit import`` reads from files, so both go through tracekit.importers.
Export hands them the JSON bytes of the traces it keeps (sliced out of Jaeger's answers without
re-encoding) and gets record batches in ``SPAN_SCHEMA`` back. v3 answers go to the OTLP reader
built on Arrow's JSON reader first (otlp_arrow: the shape Jaeger writes, read without the GIL, so
the fetch threads keep going), and to the exact OTLP path when they hold anything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from tracekit.errors import UserError
from tracekit.importers import BadInput
from tracekit.importers.documents import document_batches
from tracekit.importers.otlp_arrow import resource_spans_table
from tracekit.schema import SPAN_SCHEMA

if TYPE_CHECKING:
    from tracekit.export.api import ClassicApi, TraceDoc, V3Api


def docs_to_table(api: V3Api | ClassicApi, docs: list[TraceDoc]) -> pa.Table:
    """Span rows of `docs` (traces from one API) as one table in SPAN_SCHEMA.

    Raises UserError when Jaeger sent spans the importers reject (the message says where).
    """
    if not docs:
        return SPAN_SCHEMA.empty_table()
    if api.name == "v3":
        # Arrow's reader takes the shape Jaeger writes, without the GIL; else the exact path.
        # It crashes the process on JSON nested ~20,000 deep (pyarrow 26, measured): these
        # pieces come from an answer msgspec decoded whole, which stops at ~1,000 (api.py).
        table = resource_spans_table([part for doc in docs for part in doc.payload])
        if table is not None:
            return table
    document = api.document(docs)
    try:
        # one document per call: nothing to map small documents together with
        batches = list(
            document_batches(
                document, expect="otlp" if api.name == "v3" else "jaeger", defer_small=False
            )
        )
    except BadInput as exc:
        raise UserError(f"Jaeger {api.name} answer: spans tracekit cannot read: {exc}") from exc
    except RecursionError:
        raise UserError(f"Jaeger {api.name} answer: JSON nested too deeply") from None
    except (OverflowError, pa.ArrowException) as exc:
        # a value out of any sane range (an int64 overflow in a time) is bad input, not a bug
        problem = " ".join(str(exc).split())[:200]
        raise UserError(f"Jaeger {api.name} answer: a value out of range: {problem}") from None
    if not batches:
        return SPAN_SCHEMA.empty_table()
    return pa.Table.from_batches(batches, schema=SPAN_SCHEMA)


def orphan_traces(table: pa.Table) -> list[str]:
    """Trace ids of `table` holding a span whose parent span is not in the table.

    A search may return a trace partially (spans still arriving, or a store that assembles
    search results from an index); export then fetches such traces again by id.
    """
    if table.num_rows == 0:
        return []
    trace_ids = table.column("trace_id")
    present = pc.binary_join_element_wise(trace_ids, table.column("span_id"), "/")
    if isinstance(present, pa.ChunkedArray):
        present = present.combine_chunks()
    wanted = pc.binary_join_element_wise(trace_ids, table.column("parent_span_id"), "/")
    orphan = pc.and_(pc.is_valid(wanted), pc.invert(pc.is_in(wanted, value_set=present)))
    return [str(trace_id) for trace_id in pc.unique(pc.filter(trace_ids, orphan)).to_pylist()]


def warm_up() -> None:
    """Pay pyarrow's one-time lazy imports (pandas, ~1 s) now, e.g. in a thread while the first
    answers are still on the way, instead of inside the first conversion."""
    pa.array([0], pa.timestamp("us"))
