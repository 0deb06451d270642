"""OTLP JSON mapped a batch of ``resourceSpans`` at a time: ``resource_spans_batch``.

The mapping is otlp_json's (module docstring there). As in jaeger_json, the attributes, events
and links of the whole batch are flattened into lists with the index of their span, and the
rules run on those columns with pyarrow.compute and numpy (tracekit.importers.flat); only values
that are not strings go through Python one by one. A span the batch cannot read (a number its
field cannot hold) is named by ``otlp_json.span_problem``, a span-by-span check; the span is
then dropped (--skip-bad) or the import stops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracekit.importers.columns import SpanColumns
from tracekit.importers.flat import (
    checked_build,
    flatten,
    last_texts,
    normalize_ids,
    offsets,
    sorted_map,
    without_bad_spans,
)
from tracekit.importers.otlp_json import (
    KeyValue,
    ResourceSpans,
    Span,
    attributes_dict,
    otlp_id,
    span_problem,
    value_text,
)
from tracekit.importers.problems import BadInput, SkipLog, reject
from tracekit.importers.values import parse_int
from tracekit.schema import EVENT, LINK, SPAN_SCHEMA

_TIMESTAMP = pa.timestamp("us")

# OTLP's span kinds and status codes, by number and by name (both are valid OTLP JSON)
KIND_NAMES: dict[int | str, str] = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
}
KIND_NAMES.update({f"SPAN_KIND_{name.upper()}": name for name in list(KIND_NAMES.values())})
STATUS_NAMES: dict[int | str, str] = {
    0: "UNSET",
    1: "OK",
    2: "ERROR",
    "STATUS_CODE_UNSET": "UNSET",
    "STATUS_CODE_OK": "OK",
    "STATUS_CODE_ERROR": "ERROR",
}


class _Resource:
    """One resourceSpans entry read for the batch: service, sorted resource map, scope spans."""

    def __init__(self, where: str, unit: ResourceSpans) -> None:
        self.where = where
        attributes: dict[str, str] = {}
        if unit.resource is not None:
            attributes_dict(unit.resource.attributes, attributes, f"{where}.resource.attributes")
        self.service = attributes.pop("service.name", None) or None
        keys = sorted(attributes)
        self.keys = keys
        self.values = [attributes[key] for key in keys]
        self.field = "scopeSpans"
        scope_list = unit.scopeSpans
        if scope_list is None:
            self.field, scope_list = "instrumentationLibrarySpans", unit.instrumentationLibrarySpans
        # (scope attributes, spans) per scope; Jaeger keeps the version only along with a name
        self.scopes: list[tuple[list[tuple[str, str]], list[Span]]] = []
        for scope_spans in scope_list or ():
            scope = scope_spans.scope or scope_spans.instrumentationLibrary
            entries: list[tuple[str, str]] = []
            if scope is not None and scope.name:
                entries.append(("otel.scope.name", scope.name))
                if scope.version:
                    entries.append(("otel.scope.version", scope.version))
            self.scopes.append((entries, scope_spans.spans or []))

    @property
    def spans(self) -> int:
        return sum(len(spans) for _, spans in self.scopes)

    def span_path(self, scope_index: int, index: int) -> str:
        """The JSON path of span ``index`` of scope ``scope_index``."""
        return f"{self.where}.{self.field}[{scope_index}].spans[{index}]"

    def span_where(self, position: int) -> tuple[str, Span]:
        """The JSON path and the span at ``position`` among this resource's spans."""
        for scope_index, (_, spans) in enumerate(self.scopes):
            if position < len(spans):
                return self.span_path(scope_index, position), spans[position]
            position -= len(spans)
        raise IndexError(position)


def add_resource_spans(
    units: list[tuple[str, ResourceSpans]], columns: SpanColumns, skips: SkipLog | None
) -> None:
    """Append the spans of (json path, resourceSpans) units as one batch; a bad span raises
    BadInput naming it, or is counted in ``skips`` and left out. A resource whose own
    attributes are bad raises BadInput whatever ``skips`` says (all its spans would be bad)."""
    resources = [_Resource(where, unit) for where, unit in units]
    batch, bad = resource_spans_batch(resources)

    def check(unit: int, index: int) -> tuple[str, BadInput | None]:
        where, span = resources[unit].span_where(index)
        return where, span_problem(span, where)

    sizes = [resource.spans for resource in resources]
    batch = without_bad_spans(batch, bad, sizes, check, skips)
    columns.add_batch(batch)


def defer_resource_spans(
    units: list[tuple[str, ResourceSpans]], columns: SpanColumns, skips: SkipLog | None
) -> None:
    """Like add_resource_spans for a small document: its spans are checked one by one now (so a
    bad one is named while its document is current) and mapped later in one batch with the
    small documents that follow it."""
    for where, unit in units:
        resource = _Resource(where, unit)
        for scope_index, (entries, spans) in enumerate(resource.scopes):
            good = []
            for index, span in enumerate(spans):
                problem = span_problem(span, resource.span_path(scope_index, index))
                if problem is None:
                    good.append(span)
                else:
                    reject(problem, skips)
            resource.scopes[scope_index] = (entries, good)
        columns.defer(resource, resource.spans, _CHECKED_BATCH)


def resource_spans_batch(resources: list[_Resource]) -> tuple[pa.RecordBatch, list[int]]:
    """The spans of ``resources`` as one RecordBatch (SPAN_SCHEMA), with the positions of the
    spans that cannot be read (their rows are not meaningful: drop them; ``span_problem`` says
    why)."""
    spans: list[Span] = []
    resource_of: list[int] = []
    scope_of: list[int] = []
    scope_entries: list[list[tuple[str, str]]] = []
    for number, resource in enumerate(resources):
        for entries, scope_spans in resource.scopes:
            spans += scope_spans
            resource_of += [number] * len(scope_spans)
            scope_of += [len(scope_entries)] * len(scope_spans)
            scope_entries.append(entries)
    bad: set[int] = set()

    start_ns = _integers([span.startTimeUnixNano for span in spans], bad)
    end_ns = _integers([span.endTimeUnixNano for span in spans], bad)
    bad.update(np.flatnonzero((start_ns < 0) | (end_ns < 0)).tolist())  # values.unix_nanos
    start = start_ns // 1000
    duration = np.where(end_ns > start_ns, (end_ns - start_ns) // 1000, 0)

    trace_ids = _ids([span.traceId for span in spans], 16)
    parents = _ids([span.parentSpanId or None for span in spans], 8)
    statuses = [span.status for span in spans]
    status = [STATUS_NAMES.get(s.code, "UNSET") if s is not None else "UNSET" for s in statuses]
    message = [(s.message or None) if s is not None else None for s in statuses]

    resource_index = pa.array(np.array(resource_of, np.int64))
    resource_group, resource_keys, resource_values = [], [], []
    for number, resource in enumerate(resources):
        resource_group += [number] * len(resource.keys)
        resource_keys += resource.keys
        resource_values += resource.values
    resource_maps = sorted_map(
        np.array(resource_group, np.int64),
        pa.array(resource_keys, pa.string()),
        pa.array(resource_values, pa.string()),
        len(resources),
    )
    services = pa.array([resource.service for resource in resources], pa.string())

    batch = pa.RecordBatch.from_arrays(
        [
            trace_ids,
            _ids([span.spanId for span in spans], 8),
            parents,
            services.take(resource_index),
            pa.array([span.name for span in spans], pa.string()),
            pa.array([KIND_NAMES.get(span.kind, "unspecified") for span in spans], pa.string()),
            pa.array(start, _TIMESTAMP),
            pa.array(start + duration, _TIMESTAMP),
            pa.array(duration),
            pa.array(status, pa.string()),
            pa.array(message, pa.string()),
            _attributes(spans, np.array(scope_of, np.int64), scope_entries, bad),
            resource_maps.take(resource_index),
            _links(spans, bad),
            _events(spans, bad),
        ],
        schema=SPAN_SCHEMA,
    )
    return batch, sorted(bad)


_CHECKED_BATCH = checked_build(resource_spans_batch)


def _integers(values: list[Any], bad: set[int]) -> np.ndarray:
    """int64 values of JSON integers or integer strings (proto3 JSON writes int64 as a string);
    the positions of values that are neither go to ``bad`` (their value here is 0)."""
    kinds = {value.__class__ for value in values}
    try:
        if kinds <= {int}:
            return np.fromiter(values, np.int64, len(values))
        if kinds == {str}:
            return pc.cast(pa.array(values, pa.string()), pa.int64()).to_numpy()
    except (ValueError, TypeError, OverflowError, pa.ArrowInvalid):
        pass
    numbers = np.zeros(len(values), np.int64)
    for index, value in enumerate(values):
        try:
            numbers[index] = parse_int(value)
        except (ValueError, OverflowError):
            bad.add(index)
    return numbers


def _ids(texts: list[str | None], size: int) -> pa.Array:
    """Trace (``size`` 16) or span (8) ids as ``otlp_id`` and ``ids`` normalise them one by one:
    base64 ids (protobuf's JSON) to hex, hex lower-cased, trace ids padded to 32."""
    raw = pa.array(texts, pa.string())
    odd = np.flatnonzero(
        pc.fill_null(pc.not_equal(pc.utf8_length(raw), 2 * size), False).to_numpy(False)
    )
    if len(odd):
        fixed = list(texts)
        for index in odd.tolist():
            fixed[index] = otlp_id(fixed[index], size)  # type: ignore[arg-type]
        raw = pa.array(fixed, pa.string())
    return normalize_ids(raw, 32 if size == 16 else 16)


def _texts(lists: list[Any], bad_lists: set[int], list_of: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Keys and texts (value_text) of the KeyValue lists ``lists``, flattened; the indices (in
    ``lists``) of lists holding a value that cannot be rendered go to ``bad_lists``."""
    items: list[KeyValue] = [item for entries in lists for item in entries]
    values: list[Any] = [item.value for item in items]  # None (no value) renders as ""
    texts = [value.stringValue if value is not None else "" for value in values]
    others = [index for index, text in enumerate(texts) if text is None]
    # integers (int64 arrives as a JSON string) are rendered together: parsed, then printed
    ints = [
        index
        for index in others
        if values[index].boolValue is None and values[index].intValue is not None
    ]
    if ints:
        unparsed: set[int] = set()
        numbers = _integers([values[index].intValue for index in ints], unparsed)
        printed = pc.cast(pa.array(numbers), pa.string()).to_pylist()
        for position, index in enumerate(ints):
            if position not in unparsed:  # the others (beyond int64, or bad) one by one below
                texts[index] = printed[position]
        others = [index for index in others if texts[index] is None]
    for index in others:
        try:
            texts[index] = value_text(values[index])
        except ValueError:
            bad_lists.add(int(list_of[index]))
    return pa.array([item.key for item in items], pa.string()), pa.array(texts, pa.string())


def _attributes(
    spans: list[Span],
    scope_of: np.ndarray,
    scope_entries: list[list[tuple[str, str]]],
    bad: set[int],
) -> pa.Array:
    """The attribute maps: the scope's name and version, then the span's attributes, then the
    dropped counts and the trace state (later entries win for a repeated key)."""
    count = len(spans)
    # the scope entries of every span
    per_scope = np.array([len(entries) for entries in scope_entries], np.int64)
    first = np.zeros(len(scope_entries) + 1, np.int64)
    np.cumsum(per_scope, out=first[1:])
    scope_keys = pa.array([key for entries in scope_entries for key, _ in entries], pa.string())
    scope_values = pa.array([text for entries in scope_entries for _, text in entries], pa.string())
    counts = per_scope[scope_of] if count else np.zeros(0, np.int64)
    scope_group = np.repeat(np.arange(count), counts)
    within = np.arange(len(scope_group)) - np.repeat(np.cumsum(counts) - counts, counts)
    taken = pa.array(first[scope_of][scope_group] + within if count else np.zeros(0, np.int64))

    lists = [span.attributes or () for span in spans]
    _, span_of = flatten(lists)
    keys, texts = _texts(lists, bad, span_of)

    extra_group: list[int] = []
    extra_keys: list[str] = []
    extra_values: list[str] = []
    for index in [
        index
        for index, span in enumerate(spans)
        if span.droppedAttributesCount
        or span.droppedEventsCount
        or span.droppedLinksCount
        or span.traceState
    ]:
        span = spans[index]
        for key, value in (
            ("otel.dropped_attributes_count", span.droppedAttributesCount),
            ("otel.dropped_events_count", span.droppedEventsCount),
            ("otel.dropped_links_count", span.droppedLinksCount),
        ):
            if value:
                extra_group.append(index)
                extra_keys.append(key)
                extra_values.append(str(value))
        if span.traceState:
            extra_group.append(index)
            extra_keys.append("w3c.tracestate")
            extra_values.append(span.traceState)
    return sorted_map(
        np.concatenate([scope_group, span_of, np.array(extra_group, np.int64)]),
        pa.concat_arrays([scope_keys.take(taken), keys, pa.array(extra_keys, pa.string())]),
        pa.concat_arrays([scope_values.take(taken), texts, pa.array(extra_values, pa.string())]),
        count,
    )


def _links(spans: list[Span], bad: set[int]) -> pa.Array:
    """Links: ``child_of`` when the link's ``opentracing.ref_type`` attribute says so."""
    count = len(spans)
    links, span_of = flatten([span.links or () for span in spans])
    kinds = []
    for number, link in enumerate(links):
        try:
            ref_type = attributes_dict(link.attributes, {}, "").get("opentracing.ref_type")
        except BadInput:
            bad.add(int(span_of[number]))
            ref_type = None
        kinds.append("child_of" if ref_type == "child_of" else "follows_from")
    return pa.ListArray.from_arrays(
        offsets(span_of, count),
        pa.StructArray.from_arrays(
            [
                _ids([link.traceId for link in links], 16),
                _ids([link.spanId for link in links], 8),
                pa.array(kinds, pa.string()),
            ],
            fields=list(LINK),
        ),
    )


def _events(spans: list[Span], bad: set[int]) -> pa.Array:
    """Events: an ``event`` attribute (the last one) names the event, as Jaeger writes it."""
    count = len(spans)
    events, span_of = flatten([span.events or () for span in spans])
    bad_events: set[int] = set()  # positions in events
    times = _integers([event.timeUnixNano for event in events], bad_events)
    bad_events.update(np.flatnonzero(times < 0).tolist())  # values.unix_nanos
    lists = [event.attributes or () for event in events]
    _, event_of = flatten(lists)
    keys, texts = _texts(lists, bad_events, event_of)
    bad.update(int(span_of[index]) for index in bad_events)
    is_event = pc.equal(keys, "event").to_numpy(False)
    names = pc.coalesce(
        last_texts(is_event, event_of, texts, len(events)),
        pa.array([event.name for event in events], pa.string()),
    )
    keep = pa.array(~is_event)
    dropped = [index for index, event in enumerate(events) if event.droppedAttributesCount]
    attributes = sorted_map(
        np.concatenate([event_of[~is_event], np.array(dropped, np.int64)]),
        pa.concat_arrays(
            [
                keys.filter(keep),
                pa.array(["otel.dropped_attributes_count"] * len(dropped), pa.string()),
            ]
        ),
        pa.concat_arrays(
            [
                texts.filter(keep),
                pa.array(
                    [str(events[index].droppedAttributesCount) for index in dropped], pa.string()
                ),
            ]
        ),
        len(events),
    )
    return pa.ListArray.from_arrays(
        offsets(span_of, count),
        pa.StructArray.from_arrays(
            [pa.array(times // 1000, _TIMESTAMP), names, attributes], fields=list(EVENT)
        ),
    )
