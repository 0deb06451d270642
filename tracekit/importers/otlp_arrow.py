"""OTLP JSON resourceSpans read by Arrow's C++ JSON reader: ``resource_spans_table``.

The exact path (otlp_json, otlp_batch) decodes OTLP JSON into Python objects with msgspec and
maps them a batch at a time, so every span, attribute and value is a Python object first, and
all of it holds the GIL. Arrow's JSON reader parses straight into columns, in C++ and without
the GIL; the mapping that follows is pyarrow.compute and numpy on whole columns. On the 37k
spans export keeps from its benchmark's v3 answers that is half the CPU (0.31 s against 0.63 s),
two thirds of it in the reader, during which export's fetch threads keep running.

It reads a strict schema, the shape Jaeger's ``/api/v3`` and OpenTelemetry's exporters write.
Anything else makes ``resource_spans_table`` return None, and the caller reads the same objects
with the exact path, which reads all of OTLP JSON and names a bad span: a field outside the
schema (array and map values, ``instrumentationLibrarySpans``, ...), a value of another JSON type
(a kind or a status code by name, an integer as a JSON number, a double as a string), an id of
base64's length, an integer Arrow cannot parse, an explicit ``null`` (Arrow reads it as a field
left out, which the exact path does not always accept), an object spread over several lines.
Where it returns rows, they are the exact path's rows (tests/test_otlp_arrow.py checks).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from tracekit.importers.flat import (
    float_texts,
    last_per_group,
    last_texts,
    normalize_ids,
    offsets,
    pick,
    sorted_map,
)
from tracekit.importers.otlp_batch import KIND_NAMES, STATUS_NAMES
from tracekit.schema import EVENT, LINK, SPAN_SCHEMA

_S = pa.string()
_INT = pa.int64()
_VALUE = pa.struct(
    [
        ("stringValue", _S),
        ("boolValue", pa.bool_()),
        ("intValue", _S),  # proto3 JSON writes int64 as a string
        ("doubleValue", pa.float64()),
        ("bytesValue", _S),
    ]
)
_ATTRIBUTES = pa.list_(pa.struct([("key", _S), ("value", _VALUE)]))
_EVENT = pa.struct(
    [
        ("timeUnixNano", _S),
        ("name", _S),
        ("attributes", _ATTRIBUTES),
        ("droppedAttributesCount", _INT),
    ]
)
_LINK = pa.struct(
    [
        ("traceId", _S),
        ("spanId", _S),
        ("traceState", _S),
        ("attributes", _ATTRIBUTES),
        ("droppedAttributesCount", _INT),
        ("flags", _INT),
    ]
)
_SPAN = pa.struct(
    [
        ("traceId", _S),
        ("spanId", _S),
        ("parentSpanId", _S),
        ("traceState", _S),
        ("flags", _INT),
        ("name", _S),
        ("kind", _INT),
        ("startTimeUnixNano", _S),
        ("endTimeUnixNano", _S),
        ("attributes", _ATTRIBUTES),
        ("droppedAttributesCount", _INT),
        ("events", pa.list_(_EVENT)),
        ("droppedEventsCount", _INT),
        ("links", pa.list_(_LINK)),
        ("droppedLinksCount", _INT),
        ("status", pa.struct([("code", _INT), ("message", _S)])),
    ]
)
_SCOPE = pa.struct(
    [("name", _S), ("version", _S), ("attributes", _ATTRIBUTES), ("droppedAttributesCount", _INT)]
)
RESOURCE_SPANS = pa.schema(
    [
        ("resource", pa.struct([("attributes", _ATTRIBUTES), ("droppedAttributesCount", _INT)])),
        (
            "scopeSpans",
            pa.list_(pa.struct([("scope", _SCOPE), ("spans", pa.list_(_SPAN)), ("schemaUrl", _S)])),
        ),
        ("schemaUrl", _S),
    ]
)
_PARSE = pj.ParseOptions(explicit_schema=RESOURCE_SPANS, unexpected_field_behavior="error")
_NULL = re.compile(rb":[ \t\r]*null")
_BLOCK = 4 << 20  # bytes the reader parses at a time (an object must fit in one)

# the names of OTLP's kind and status numbers, in number order
_KINDS = pa.array([KIND_NAMES[code] for code in range(6)])
_STATUSES = pa.array([STATUS_NAMES[code] for code in range(3)])
_TIMESTAMP = pa.timestamp("us")


class _Uncommon(Exception):
    """The objects hold something the exact path must read."""


def resource_spans_table(objects: Sequence[bytes]) -> pa.Table | None:
    """The span rows (SPAN_SCHEMA) of compact JSON resourceSpans objects, in order; None when
    they hold anything outside the common shape (module docstring): read them with the exact
    path then."""
    if not objects:
        return SPAN_SCHEMA.empty_table()
    lines = b"\n".join(objects)
    if lines.count(b"\n") != len(objects) - 1:
        return None  # an object spread over lines
    if b"null" in lines and _NULL.search(lines):
        return None  # (or a string holding ":null": the exact path reads it just the same)
    longest = max(map(len, objects))
    if longest >= 1 << 31:
        return None
    options = pj.ReadOptions(use_threads=False, block_size=max(_BLOCK, longest + 1))
    try:
        table = pj.read_json(pa.BufferReader(lines), read_options=options, parse_options=_PARSE)
        return pa.Table.from_batches([_spans(table)], schema=SPAN_SCHEMA)
    except (_Uncommon, pa.ArrowInvalid):
        return None


def _spans(table: pa.Table) -> pa.RecordBatch:
    resources = table.column("resource").combine_chunks()
    scope_lists = table.column("scopeSpans").combine_chunks()
    scopes = _items(scope_lists)
    scope_resource = _parents(scope_lists)
    span_lists = pc.struct_field(scopes, "spans")
    spans = _items(span_lists)
    span_scope = _parents(span_lists)
    count = len(spans)

    def field(name: str) -> pa.Array:
        return pc.struct_field(spans, name)

    start_ns = _nanos(field("startTimeUnixNano"))
    end_ns = _nanos(field("endTimeUnixNano"))
    start = start_ns // 1000
    duration = np.where(end_ns > start_ns, (end_ns - start_ns) // 1000, 0)

    parents = field("parentSpanId")
    parents = pc.if_else(pc.equal(parents, ""), pa.scalar(None, _S), parents)
    status = field("status")
    message = pc.struct_field(status, "message")
    services, resource_maps = _resources(resources)
    resource_index = pa.array(scope_resource[span_scope])
    return pa.RecordBatch.from_arrays(
        [
            _ids(field("traceId"), 16),
            _ids(field("spanId"), 8),
            _ids(parents, 8, required=False),
            services.take(resource_index),
            pc.fill_null(field("name"), ""),
            _names(_KINDS, field("kind")),
            pa.array(start, _TIMESTAMP),
            pa.array(start + duration, _TIMESTAMP),
            pa.array(duration),
            _names(_STATUSES, pc.struct_field(status, "code")),
            pc.if_else(pc.equal(message, ""), pa.scalar(None, _S), message),
            _attributes(spans, scopes, span_scope),
            resource_maps.take(resource_index),
            _links(field("links"), count),
            _events(field("events"), count),
        ],
        schema=SPAN_SCHEMA,
    )


def _items(lists: pa.Array) -> pa.Array:
    """The items of a list column in order (null lists hold none); a null item is uncommon."""
    items = pc.list_flatten(lists)
    if items.null_count:
        raise _Uncommon
    return items


def _parents(lists: pa.Array) -> np.ndarray:
    """For each item of ``lists`` (as _items gives them), the index of its list."""
    return pc.list_parent_indices(lists).to_numpy().astype(np.int64, copy=False)


def _nanos(texts: pa.Array) -> np.ndarray:
    """int64 nanoseconds of integer strings, 0 where left out (ArrowInvalid when not integers)."""
    return pc.fill_null(pc.cast(texts, _INT), 0).to_numpy()


def _names(names: pa.Array, codes: pa.Array) -> pa.Array:
    """``names[code]``, the first name for codes left out or out of range (as the exact path's
    dict lookups with a default)."""
    numbers = pc.fill_null(codes, 0).to_numpy()
    numbers = np.where((numbers >= 0) & (numbers < len(names)), numbers, 0)
    return names.take(pa.array(numbers))


def _ids(raw: pa.Array, size: int, *, required: bool = True) -> pa.Array:
    """Trace (``size`` 16) or span (8) ids normalised as the exact path does; nulls where OTLP
    requires an id, and ids of base64's length (which the exact path decodes), are uncommon."""
    if required and raw.null_count:
        raise _Uncommon
    if pc.any(pc.equal(pc.utf8_length(raw), 4 * ((size + 2) // 3))).as_py():
        raise _Uncommon
    return normalize_ids(raw, 32 if size == 16 else 16)


def _key_texts(lists: pa.Array) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """Of attribute lists: each entry's list index, its key, and its value as text."""
    entries = _items(lists)
    keys = pc.struct_field(entries, "key")
    if keys.null_count:
        raise _Uncommon
    return _parents(lists), keys, _texts(pc.struct_field(entries, "value"))


def _texts(values: pa.Array) -> pa.Array:
    """AnyValues as ``otlp_json.value_text`` renders them: the first field set, in its order
    (string, bool, int, double, bytes), else ""."""
    parts = [pc.struct_field(values, "stringValue")]
    flags = pc.struct_field(values, "boolValue")
    if flags.null_count < len(flags):
        parts.append(pc.if_else(flags, "true", "false"))
    integers = pc.struct_field(values, "intValue")
    if integers.null_count < len(integers):
        parts.append(pc.cast(pc.cast(integers, _INT), _S))
    doubles = pc.struct_field(values, "doubleValue")
    if doubles.null_count < len(doubles):
        present = np.flatnonzero(pc.is_valid(doubles).to_numpy(False))
        source = np.full(len(doubles), -1, np.int64)
        source[present] = np.arange(len(present))
        texts = float_texts(doubles.take(pa.array(present)).to_numpy(False))
        parts.append(pick(pa.array(texts, _S), source))
    encoded = pc.struct_field(values, "bytesValue")
    if encoded.null_count < len(encoded):
        parts.append(encoded)
    return pc.coalesce(*parts, pa.scalar("", _S))


def _repeated(text: str, count: int) -> pa.Array:
    return pa.array([text], _S).take(pa.array(np.zeros(count, np.int64)))


def _resources(resources: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Per resource: the service (its last ``service.name``, null when empty) and the map of
    its other attributes."""
    group, keys, texts = _key_texts(pc.struct_field(resources, "attributes"))
    is_service = pc.equal(keys, "service.name").to_numpy(False)
    services = last_texts(is_service, group, texts, len(resources))
    services = pc.if_else(pc.equal(services, ""), pa.scalar(None, _S), services)
    keep = pa.array(~is_service)
    return services, sorted_map(
        group[~is_service], keys.filter(keep), texts.filter(keep), len(resources)
    )


def _attributes(spans: pa.Array, scopes: pa.Array, span_scope: np.ndarray) -> pa.Array:
    """The attribute maps: the scope's name and version, then the span's attributes, then the
    dropped counts and the trace state (later entries win for a repeated key)."""
    groups: list[np.ndarray] = []
    keys: list[pa.Array] = []
    values: list[pa.Array] = []

    def add(group: np.ndarray, key: str | pa.Array, value: pa.Array) -> None:
        groups.append(group)
        keys.append(_repeated(key, len(group)) if isinstance(key, str) else key)
        values.append(value)

    scope = pc.struct_field(scopes, "scope")
    name = pc.struct_field(scope, "name")
    version = pc.struct_field(scope, "version")
    named = pc.fill_null(pc.not_equal(name, ""), False).to_numpy(False)
    versioned = named & pc.fill_null(pc.not_equal(version, ""), False).to_numpy(False)
    for key, texts, present in (
        ("otel.scope.name", name, named),
        ("otel.scope.version", version, versioned),
    ):
        group = np.flatnonzero(present[span_scope])
        add(group, key, texts.take(pa.array(span_scope[group])))
    add(*_key_texts(pc.struct_field(spans, "attributes")))
    for key, column in (
        ("otel.dropped_attributes_count", "droppedAttributesCount"),
        ("otel.dropped_events_count", "droppedEventsCount"),
        ("otel.dropped_links_count", "droppedLinksCount"),
    ):
        counts = pc.fill_null(pc.struct_field(spans, column), 0).to_numpy()
        group = np.flatnonzero(counts)
        add(group, key, pc.cast(pa.array(counts[group]), _S))
    state = pc.struct_field(spans, "traceState")
    group = np.flatnonzero(pc.fill_null(pc.not_equal(state, ""), False).to_numpy(False))
    add(group, "w3c.tracestate", state.take(pa.array(group)))
    return sorted_map(
        np.concatenate(groups), pa.concat_arrays(keys), pa.concat_arrays(values), len(spans)
    )


def _links(lists: pa.Array, count: int) -> pa.Array:
    """Links: ``child_of`` when the link's ``opentracing.ref_type`` attribute says so."""
    links = _items(lists)
    group, keys, texts = _key_texts(pc.struct_field(links, "attributes"))
    is_ref = pc.equal(keys, "opentracing.ref_type").to_numpy(False)
    referring, positions = last_per_group(np.flatnonzero(is_ref), group)
    child = np.zeros(len(links), bool)
    child[referring] = pc.equal(texts.take(pa.array(positions)), "child_of").to_numpy(False)
    return pa.ListArray.from_arrays(
        offsets(_parents(lists), count),
        pa.StructArray.from_arrays(
            [
                _ids(pc.struct_field(links, "traceId"), 16),
                _ids(pc.struct_field(links, "spanId"), 8),
                pc.if_else(pa.array(child), "child_of", "follows_from"),
            ],
            fields=list(LINK),
        ),
    )


def _events(lists: pa.Array, count: int) -> pa.Array:
    """Events: an ``event`` attribute (the last one) names the event, as Jaeger writes it."""
    events = _items(lists)
    times = _nanos(pc.struct_field(events, "timeUnixNano")) // 1000
    group, keys, texts = _key_texts(pc.struct_field(events, "attributes"))
    is_event = pc.equal(keys, "event").to_numpy(False)
    names = pc.coalesce(
        last_texts(is_event, group, texts, len(events)),
        pc.fill_null(pc.struct_field(events, "name"), ""),
    )
    dropped = pc.fill_null(pc.struct_field(events, "droppedAttributesCount"), 0).to_numpy()
    dropping = np.flatnonzero(dropped)
    keep = pa.array(~is_event)
    attributes = sorted_map(
        np.concatenate([group[~is_event], dropping]),
        pa.concat_arrays(
            [keys.filter(keep), _repeated("otel.dropped_attributes_count", len(dropping))]
        ),
        pa.concat_arrays([texts.filter(keep), pc.cast(pa.array(dropped[dropping]), _S)]),
        len(events),
    )
    return pa.ListArray.from_arrays(
        offsets(_parents(lists), count),
        pa.StructArray.from_arrays(
            [pa.array(times, _TIMESTAMP), names, attributes], fields=list(EVENT)
        ),
    )
