"""``span_arrays``: one bucket of spans as the plain numpy columns the kernel walks.

Rows are sorted by trace, then span id, then input order, so that a trace is one range of rows
and the rows of one span id (duplicates, as older tools stored them) are adjacent. Strings become
integer codes whose order is the strings' byte order (DuckDB's VARCHAR order), so the kernel can
compare span ids and group by names with integers: one dictionary for span ids, one shared by
every name column (service, operation, peer), so a callee coded from a server span's service
equals one coded from a client's peer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# kind codes (anything else, NULL included, is OTHER)
OTHER, SERVER, CLIENT, PRODUCER, CONSUMER = 0, 1, 2, 3, 4
_KINDS = ("server", "client", "producer", "consumer")
# message role codes (NONE: no messaging span), as sql/kernel/span_facts.sql names the roles
CREATE, SEND, RECEIVE, PROCESS, SETTLE = 0, 1, 2, 3, 4
_ROLES = ("create", "send", "receive", "process", "settle")

# what a missing parent or a NULL name is coded as
NONE = -1


@dataclass(frozen=True)
class SpanArrays:
    """A bucket's spans, sorted (see the module docstring). ``row`` maps a sorted position to
    the input row; ``trace_offsets`` bounds each trace's rows; names are codes into ``names``.
    """

    row: np.ndarray  # int64: input row of each sorted position
    trace_offsets: np.ndarray  # int64, traces + 1
    span: np.ndarray  # int64: rank of span_id in byte order
    parent: np.ndarray  # int64: rank of parent_span_id (same dictionary), NONE when NULL
    has_parent: np.ndarray  # bool: parent_span_id IS NOT NULL
    start: np.ndarray  # int64 epoch us
    end: np.ndarray  # int64 epoch us
    duration: np.ndarray  # int64 duration_us as stored
    kind: np.ndarray  # int8 kind code
    is_error: np.ndarray  # bool: status = 'ERROR'
    error_answer: np.ndarray  # bool: conv_error_answer(attributes)
    links_parent: np.ndarray  # bool: a link names the parent (FOLLOWS_FROM)
    service: np.ndarray  # int64 name code
    operation: np.ndarray  # int64 name code
    peer: np.ndarray  # int64 name code of conv_peer(attributes)
    peer_endpoint: np.ndarray  # int64 name code of conv_peer_endpoint(attributes)
    span_hash: np.ndarray  # uint64 hash(trace_id, span_id)
    parent_hash: np.ndarray  # uint64 hash(trace_id, parent_span_id), 0 when NULL
    clock: np.ndarray  # uint64 hash(conv_process(service, resource))
    status_null: np.ndarray  # bool: status IS NULL
    message_role: np.ndarray  # int64 role code, NONE for spans that are no messaging span
    has_destination: np.ndarray  # bool: the messaging span names a destination
    settles_reject: np.ndarray  # bool: it settles a message by rejecting it
    names: pa.Array  # the name dictionary, sorted


def span_arrays(spans: pa.Table, facts: pa.Table) -> SpanArrays:
    """The sorted arrays of ``spans`` (span schema) and ``facts`` (the rows of
    ``sql/kernel/span_facts.sql`` for the same rows, in the same order)."""
    trace = _codes(spans["trace_id"])
    # one dictionary for span and parent ids: a parent id that never arrived still has a code
    # (calls are grouped by parent id, whether or not the parent is there)
    span_ids = pc.unique(
        pa.chunked_array(spans["span_id"].chunks + spans["parent_span_id"].chunks, pa.string())
    )
    span_ids = span_ids.filter(pc.is_valid(span_ids))
    span_rank = _ranks(span_ids)
    span = span_rank[_codes_in(spans["span_id"], span_ids)]
    parent_index = _codes_in(spans["parent_span_id"], span_ids)
    parent = np.where(parent_index >= 0, span_rank[np.maximum(parent_index, 0)], NONE)
    order = np.lexsort((np.arange(len(span)), span, trace))
    counts = np.bincount(trace, minlength=int(trace.max()) + 1 if len(trace) else 0)
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])

    name_columns = [
        spans["service"],
        spans["operation"],
        facts["peer"],
        facts["peer_endpoint"],
    ]
    names = pc.unique(
        pa.chunked_array(
            [chunk for c in name_columns for chunk in c.cast(pa.string()).chunks], pa.string()
        )
    )
    names = names.filter(pc.is_valid(names))
    names = names.take(pc.sort_indices(names))
    service, operation, peer, peer_endpoint = (_codes_in(c, names) for c in name_columns)

    kind = (_codes_in(spans["kind"], pa.array(_KINDS)) + 1).astype(np.int8)
    parent_hash = facts["parent_hash"]

    def sort(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(values[order])

    return SpanArrays(
        row=order.astype(np.int64),
        trace_offsets=offsets,
        span=sort(span),
        parent=sort(parent),
        has_parent=sort(_bools(pc.is_valid(spans["parent_span_id"]))),
        start=sort(_int64(spans["start_time"])),
        end=sort(_int64(spans["end_time"])),
        duration=sort(_int64(spans["duration_us"])),
        kind=sort(kind),
        is_error=sort(_bools(pc.fill_null(pc.equal(spans["status"], "ERROR"), False))),
        error_answer=sort(_bools(pc.fill_null(facts["error_answer"], False))),
        links_parent=sort(_bools(pc.fill_null(facts["links_parent"], False))),
        service=sort(service),
        operation=sort(operation),
        peer=sort(peer),
        peer_endpoint=sort(peer_endpoint),
        span_hash=sort(_uint64(facts["span_hash"])),
        parent_hash=sort(_uint64(pc.fill_null(parent_hash, 0))),
        clock=sort(_uint64(facts["clock"])),
        status_null=sort(_bools(pc.is_null(spans["status"]))),
        message_role=sort(_codes_in(facts["message_role"], pa.array(_ROLES))),
        has_destination=sort(_bools(pc.is_valid(facts["destination"]))),
        settles_reject=sort(_bools(pc.fill_null(facts["settles_reject"], False))),
        names=names,
    )


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Codes in order of first appearance (for grouping only)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _ranks(values: pa.Array) -> np.ndarray:
    """Each value's rank in byte order (values distinct)."""
    order = pc.sort_indices(values).to_numpy()
    ranks = np.empty(len(order), np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def _codes_in(column: pa.ChunkedArray | pa.Array, values: pa.Array) -> np.ndarray:
    """Index of each row's value in ``values``; NONE for NULL or absent."""
    index = pc.index_in(column, value_set=values)
    return pc.fill_null(index, NONE).to_numpy(zero_copy_only=False).astype(np.int64)


def _bools(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _int64(column: pa.ChunkedArray) -> np.ndarray:
    return column.cast(pa.int64()).to_numpy().astype(np.int64, copy=False)


def _uint64(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.uint64)


class Columns:
    """Columns of the input rows (``spans``, and their ``facts`` in the same order) at sorted
    positions, and names from codes."""

    def __init__(self, spans: pa.Table, arrays: SpanArrays, facts: pa.Table) -> None:
        self.spans = spans
        self.facts = facts
        self.arrays = arrays
        self.trace = np.repeat(
            np.arange(len(arrays.trace_offsets) - 1), np.diff(arrays.trace_offsets)
        )

    def column(self, name: str) -> pa.ChunkedArray:
        """A column of the spans, or of the facts where the spans have none of that name."""
        return self.spans[name] if name in self.spans.column_names else self.facts[name]

    def take(self, column: str, positions: np.ndarray) -> pa.Array:
        """``column`` at sorted ``positions`` (-1: NULL)."""
        rows = self.arrays.row[np.maximum(positions, 0)]
        index = pa.array(rows, mask=positions < 0) if (positions < 0).any() else pa.array(rows)
        return self.column(column).take(index).combine_chunks()

    def names(self, codes: np.ndarray) -> pa.Array:
        """The names of ``codes`` (-1: NULL)."""
        codes = np.asarray(codes, np.int64)
        index = pa.array(np.maximum(codes, 0), mask=codes < 0)
        return self.arrays.names.take(index)
