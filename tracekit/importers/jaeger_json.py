"""Jaeger JSON (the ``/api/traces`` response and the UI's trace download) to span rows.

The mapping is Jaeger's own (OpenTelemetry collector-contrib ``jaegerproto_to_traces``):

- ``span.kind`` tag -> ``kind``; ``error=true`` (bool) or ``otel.status_code`` -> ``status``, with
  ``otel.status_description`` -> ``status_message``. These tags are removed from ``attributes``;
- the first CHILD_OF reference into the same trace, else the first FOLLOWS_FROM one (Jaeger's
  ``Span.ParentSpanID``) -> ``parent_span_id``; every other reference (FOLLOWS_FROM, that one
  included, and further CHILD_OF) -> ``links`` with kind ``follows_from``/``child_of``;
- logs -> ``events``, the ``event`` field naming the event; process tags -> ``resource``;
- ``otel.library.name``/``.version`` (older Jaeger) -> ``otel.scope.name``/``.version``;
- span ``warnings`` -> the ``@jaeger@warnings`` attribute (where Jaeger keeps them in OTLP).

It is computed a batch of traces at a time (``traces_batch``): tags, logs and references of the
whole batch are flattened into lists with the index of their span, and the rules above run on
those columns with pyarrow.compute and numpy (tracekit.importers.flat). A span the batch cannot
read (a missing process, a value its declared type cannot hold) is named by ``span_problem``,
a span-by-span check that only finds and describes the problem; the span is then dropped
(--skip-bad) or the import stops.

The compiled converter (``native/``, tracekit.importers.native) maps the documents every Jaeger
writes the same way, faster; this module is the definition it must match
(tests/test_import_native.py) and what maps every other document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracekit.importers.columns import SpanColumns
from tracekit.importers.flat import (
    TagTypes,
    bounded_int64,
    checked_build,
    flatten,
    last_per_group,
    last_texts,
    normalize_ids,
    offsets,
    pick,
    sorted_map,
    tag_texts,
    without_bad_spans,
)
from tracekit.importers.problems import BadInput, SkipLog, reject
from tracekit.importers.values import (
    INT64_MAX,
    MAX_TIME_US,
    MIN_TIME_US,
    go_json,
    jaeger_tag_text,
    time_us,
)
from tracekit.schema import EVENT, KINDS, LINK, SPAN_SCHEMA, STRING_MAP

_TIMESTAMP = pa.timestamp("us")

# gc=False: decoded traces hold no reference cycles, and keeping millions of small structs out
# of the cyclic garbage collector is most of what makes decoding fast.


class Tag(msgspec.Struct, gc=False):
    key: str
    type: str | None = "string"
    value: Any = None


class Log(msgspec.Struct, gc=False):
    timestamp: int
    fields: list[Tag] | None = None


class Reference(msgspec.Struct, kw_only=True, gc=False):
    refType: str = "CHILD_OF"  # noqa: N815 (Jaeger's JSON names)
    traceID: str | None = None  # noqa: N815
    spanID: str  # noqa: N815


class Process(msgspec.Struct, gc=False):
    serviceName: str | None = None  # noqa: N815
    tags: list[Tag] | None = None


class Span(msgspec.Struct, kw_only=True, gc=False):
    traceID: str  # noqa: N815
    spanID: str  # noqa: N815
    operationName: str = ""  # noqa: N815
    references: list[Reference] | None = None
    startTime: int  # noqa: N815
    duration: int
    tags: list[Tag] | None = None
    logs: list[Log] | None = None
    processID: str | None = None  # noqa: N815
    process: Process | None = None
    warnings: list[str] | None = None


class Trace(msgspec.Struct, kw_only=True, gc=False):
    traceID: str | None = None  # noqa: N815
    spans: list[Span]
    processes: dict[str, Process] | None = None


_KINDS = pa.array(sorted(set(KINDS) - {"unspecified"}))
_REMOVED = pa.array(["span.kind", "otel.status_code", "otel.status_description"])


def add_traces(units: list[tuple[str, Trace]], columns: SpanColumns, skips: SkipLog | None) -> None:
    """Append the spans of (json path, trace) units as one batch; a bad span raises BadInput
    naming it, or is counted in ``skips`` and left out."""
    batch, bad = traces_batch([trace for _, trace in units])

    def check(unit: int, index: int) -> tuple[str, BadInput | None]:
        where, trace = units[unit]
        found = span_problem(trace.spans[index], trace.processes or {}, where)
        where = f"{where}.spans[{index}]"
        return where, found and BadInput(f"{where}{found.where}", found.problem)

    sizes = [len(trace.spans) for _, trace in units]
    batch = without_bad_spans(batch, bad, sizes, check, skips)
    columns.add_batch(batch)


def defer_traces(
    units: list[tuple[str, Trace]], columns: SpanColumns, skips: SkipLog | None
) -> None:
    """Like add_traces for a small document: its spans are checked one by one now (so a bad
    one is named while its document is current) and mapped later in one batch with the small
    documents that follow it (the batch has a fixed cost of a few ms, JSON Lines can have a
    trace per line)."""
    for where, trace in units:
        processes = trace.processes or {}
        bad = set()
        for index, span in enumerate(trace.spans):
            found = span_problem(span, processes, where)
            if found is not None:
                reject(BadInput(f"{where}.spans[{index}]{found.where}", found.problem), skips)
                bad.add(index)
        if bad:
            spans = [span for index, span in enumerate(trace.spans) if index not in bad]
            trace = Trace(traceID=trace.traceID, spans=spans, processes=trace.processes)
        columns.defer(trace, len(trace.spans), _CHECKED_BATCH)


def traces_batch(traces: list[Trace]) -> tuple[pa.RecordBatch, list[int]]:
    """The spans of ``traces`` as one RecordBatch (SPAN_SCHEMA), with the positions of the spans
    that cannot be read (their rows are not meaningful: drop them; ``span_problem`` says why)."""
    spans = [span for trace in traces for span in trace.spans]
    count = len(spans)
    bad: set[int] = set()

    # Resources: rendered once per process of a trace; spans point at theirs.
    resource_of_span, resource_services, resource_tags = _resources(traces)
    res_tags, res_group = flatten(resource_tags)
    res_texts, res_bad = tag_texts([tag.value for tag in res_tags], TagTypes(res_tags))
    resource_ok = np.ones(len(resource_tags) + 1, bool)
    resource_ok[res_group[res_bad]] = False
    resource_ok[-1] = False  # index -1: the span has no process
    source = np.array(resource_of_span, np.int64)
    bad.update(np.flatnonzero(~resource_ok[source]).tolist())
    source[source < 0] = 0
    resources = sorted_map(
        res_group,
        pa.array([tag.key for tag in res_tags], pa.string()),
        pa.array(res_texts, pa.string()),
        len(resource_tags),
    )
    if len(resource_tags):
        take = pa.array(source)
        resource = resources.take(take)
        service = pa.array(resource_services, pa.string()).take(take)
    else:
        resource = pa.nulls(count, STRING_MAP)
        service = pa.nulls(count, pa.string())

    trace_ids = normalize_ids(pa.array([span.traceID for span in spans], pa.string()), 32)
    attributes, kind, status, message = _attributes(spans, bad)
    parent, links = _references(spans, trace_ids)
    events = _events(spans, bad)

    start, start_outside = bounded_int64(
        [span.startTime for span in spans], MIN_TIME_US, MAX_TIME_US
    )
    duration, duration_outside = bounded_int64(
        [span.duration for span in spans], -INT64_MAX, MAX_TIME_US - MIN_TIME_US
    )
    np.maximum(duration, 0, out=duration)
    outside = start_outside | duration_outside | (start + duration > MAX_TIME_US)
    bad.update(np.flatnonzero(outside).tolist())
    batch = pa.RecordBatch.from_arrays(
        [
            trace_ids,
            normalize_ids(pa.array([span.spanID for span in spans], pa.string()), 16),
            parent,
            service,
            pa.array([span.operationName for span in spans], pa.string()),
            kind,
            pa.array(start, _TIMESTAMP),
            pa.array(start + duration, _TIMESTAMP),
            pa.array(duration),
            status,
            message,
            attributes,
            resource,
            links,
            events,
        ],
        schema=SPAN_SCHEMA,
    )
    return batch, sorted(bad)


_CHECKED_BATCH = checked_build(traces_batch)


def _resources(traces: list[Trace]) -> tuple[list[int], list[str | None], list[Any]]:
    """Each span's resource index (-1: none), and each resource's service and tags."""
    of_span: list[int] = []
    services: list[str | None] = []
    tags: list[Any] = []
    for trace in traces:
        processes = trace.processes or {}
        known: dict[str, int] = {}
        for span in trace.spans:
            process_id = span.processID
            index = known.get(process_id) if process_id is not None else None  # type: ignore[arg-type]
            if index is None:
                process = processes.get(process_id) if process_id is not None else None
                if process is None:
                    process = span.process
                if process is None:
                    index = -1
                else:
                    index = len(services)
                    services.append(process.serviceName or None)
                    tags.append(process.tags or ())
                    if process_id is not None and process_id in processes:
                        known[process_id] = index
            of_span.append(index)
    return of_span, services, tags


def _attributes(spans: list[Span], bad: set[int]) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """Span attributes from tags, with the tags Jaeger maps to kind, status and status message
    taken out (the last tag of a key wins, as in Jaeger)."""
    count = len(spans)
    lists = [span.tags or () for span in spans]
    tags, span_of = flatten(lists)
    # nested comprehensions over the per-span lists are faster than passes over the flat list
    value_of = [tag.value for items in lists for tag in items]
    texts, tag_bad = tag_texts(value_of, TagTypes(tags))
    bad.update(span_of[tag_bad].tolist())
    keys = pa.array([tag.key for items in lists for tag in items], pa.string())
    values = pa.array(texts, pa.string())

    def last(key: str) -> tuple[np.ndarray, np.ndarray]:
        return last_per_group(np.flatnonzero(pc.equal(keys, key).to_numpy(False)), span_of)

    def scattered(key: str) -> pa.Array:
        spans_with, positions = last(key)
        source = np.full(count, -1, np.int64)
        source[spans_with] = positions
        return pick(values, source)

    kind = scattered("span.kind")
    kind = pc.if_else(pc.is_in(kind, _KINDS), kind, "unspecified")
    code = pc.utf8_upper(scattered("otel.status_code"))
    status = pc.if_else(
        pc.is_in(code, pa.array(["OK", "ERROR"])), code, pa.scalar("UNSET")
    ).fill_null("UNSET")
    # Jaeger: a bool error=true is the ultimate truth, whatever otel.status_code says
    error_spans, error_positions = last("error")
    errored = np.zeros(count, bool)
    errored[error_spans] = [
        (tags[position].type or "").lower() == "bool" and value_of[position] is True
        for position in error_positions.tolist()
    ]
    status = pc.if_else(pa.array(errored), "ERROR", status)
    message = scattered("otel.status_description")
    message = pc.if_else(pc.equal(message, ""), pa.scalar(None, pa.string()), message)

    drop = pc.is_in(keys, _REMOVED).to_numpy(False).copy()
    is_error = pc.equal(keys, "error").to_numpy(False)
    drop |= is_error & errored[span_of]
    # otel.library.* (older Jaeger) become otel.scope.*, unless the span has those already
    for old, new in (
        ("otel.library.name", "otel.scope.name"),
        ("otel.library.version", "otel.scope.version"),
    ):
        is_old = pc.equal(keys, old).to_numpy(False)
        if is_old.any():
            has_new = np.zeros(count, bool)
            has_new[span_of[pc.equal(keys, new).to_numpy(False)]] = True
            drop |= is_old & has_new[span_of]
            keys = pc.if_else(pa.array(is_old), new, keys)
    keep = ~drop
    group = span_of[keep]
    keys = keys.filter(pa.array(keep))
    values = values.filter(pa.array(keep))
    warned = [(index, span.warnings) for index, span in enumerate(spans) if span.warnings]
    if warned:
        # appended last, so they win over a tag of the same key
        group = np.concatenate([group, np.array([index for index, _ in warned], np.int64)])
        keys = pa.concat_arrays([keys, pa.array(["@jaeger@warnings"] * len(warned))])
        values = pa.concat_arrays([values, pa.array([go_json(text) for _, text in warned])])
    return sorted_map(group, keys, values, count), kind, status, message


def _references(spans: list[Span], trace_ids: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The parent and the other references as links.

    The parent is Jaeger's own (its model's ``Span.ParentSpanID``): the first CHILD_OF reference
    into the same trace, else the first FOLLOWS_FROM one. Jaeger writes a span whose parent
    it also links to (a consumer linking its producer) with a single FOLLOWS_FROM reference,
    and reads that back as the parent.
    """
    count = len(spans)
    refs, span_of = flatten([span.references or () for span in spans])
    own_trace = trace_ids.take(pa.array(span_of))
    raw = pa.array([ref.traceID or None for ref in refs], pa.string())
    ref_trace = pc.coalesce(normalize_ids(raw, 32), own_trace)
    ref_span = normalize_ids(pa.array([ref.spanID for ref in refs], pa.string()), 16)
    ref_types = pc.utf8_upper(pa.array([ref.refType for ref in refs], pa.string()))
    child = pc.equal(ref_types, "CHILD_OF")
    same_trace = pc.equal(ref_trace, own_trace)
    source = np.full(count, -1, np.int64)
    # FOLLOWS_FROM first, then CHILD_OF over it: a span with both gets its CHILD_OF
    for kind in (pc.equal(ref_types, "FOLLOWS_FROM"), child):
        candidates = np.flatnonzero(pc.and_(kind, same_trace).to_numpy(False))
        first = np.ones(len(candidates), bool)
        first[1:] = span_of[candidates][1:] != span_of[candidates][:-1]
        source[span_of[candidates[first]]] = candidates[first]
    parent = pick(ref_span, source)
    # every CHILD_OF to the parent's span id is the parent, not a link
    to_parent = pc.and_(child, pc.equal(ref_span, parent.take(pa.array(span_of))))
    keep = pc.invert(pc.fill_null(to_parent, False))
    kinds = pc.if_else(child, "child_of", "follows_from")
    links = pa.ListArray.from_arrays(
        offsets(span_of[keep.to_numpy(False)], count),
        pa.StructArray.from_arrays(
            [ref_trace.filter(keep), ref_span.filter(keep), kinds.filter(keep)],
            fields=list(LINK),
        ),
    )
    return parent, links


def _events(spans: list[Span], bad: set[int]) -> pa.Array:
    """Logs as events: the last ``event`` field names one, the other fields are its attributes."""
    count = len(spans)
    logs, span_of = flatten([span.logs or () for span in spans])
    lists = [log.fields or () for log in logs]
    fields, log_of = flatten(lists)
    texts, field_bad = tag_texts([tag.value for items in lists for tag in items], TagTypes(fields))
    bad.update(span_of[log_of[field_bad]].tolist())
    keys = pa.array([tag.key for items in lists for tag in items], pa.string())
    values = pa.array(texts, pa.string())
    is_event = pc.equal(keys, "event").to_numpy(False)
    names = last_texts(is_event, log_of, values, len(logs)).fill_null("")
    keep = pa.array(~is_event)
    attributes = sorted_map(log_of[~is_event], keys.filter(keep), values.filter(keep), len(logs))
    stamps, outside = bounded_int64([log.timestamp for log in logs], MIN_TIME_US, MAX_TIME_US)
    bad.update(span_of[outside].tolist())
    times = pa.array(stamps, _TIMESTAMP)
    return pa.ListArray.from_arrays(
        offsets(span_of, count),
        pa.StructArray.from_arrays([times, names, attributes], fields=list(EVENT)),
    )


def span_problem(span: Span, processes: dict[str, Process], trace_where: str) -> BadInput | None:
    """What makes one span unreadable (its path relative to the span), or None: the careful,
    span-by-span check behind the precise message for a span ``traces_batch`` flags."""
    process_id = span.processID
    process = processes.get(process_id) if process_id is not None else None
    try:
        _check_times(span)
        if process is not None:
            _check_tags(process.tags, f".processes[{process_id!r}].tags")
        elif span.process is not None:
            _check_tags(span.process.tags, ".process.tags")
        elif process_id is None:
            return BadInput("", "has neither a processID nor a process")
        else:
            return BadInput(
                ".processID",
                f"names process {process_id!r}, which is not in {trace_where}.processes",
            )
        _check_tags(span.tags, ".tags")
        for number, log in enumerate(span.logs or ()):
            _check_tags(log.fields, f".logs[{number}].fields")
    except BadInput as problem:
        return problem
    return None


def _check_times(span: Span) -> None:
    """Times a dataset can hold (``values.time_us``): what ``traces_batch`` flags, one by one."""
    try:
        time_us(span.startTime, "start time")
    except ValueError as exc:
        raise BadInput(".startTime", str(exc)) from None
    if span.duration < -INT64_MAX or span.startTime + max(span.duration, 0) > MAX_TIME_US:
        raise BadInput(
            ".duration",
            f"out of range: a duration of {span.duration} us does not fit a span between "
            "years 1 and 9999",
        )
    for number, log in enumerate(span.logs or ()):
        try:
            time_us(log.timestamp, "log time")
        except ValueError as exc:
            raise BadInput(f".logs[{number}].timestamp", str(exc)) from None


def _check_tags(tags: list[Tag] | None, where: str) -> None:
    for index, tag in enumerate(tags or ()):
        try:
            _text(tag)
        except ValueError as exc:
            raise BadInput(f"{where}[{index}].value", str(exc)) from None


def _text(tag: Tag) -> str:
    """A tag's value as text. Values that already have the obvious Python type skip the
    declared-type checks (the hot path); anything else goes through jaeger_tag_text."""
    value = tag.value
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    return jaeger_tag_text(tag.type, value)


def jaeger_to_batches(
    payload: bytes | str | dict[str, Any] | list[Any],
    skip_bad: bool = False,
    skips: SkipLog | None = None,
) -> Iterator[pa.RecordBatch]:
    """Span batches (tracekit.schema.SPAN_SCHEMA) from one Jaeger JSON document.

    ``payload`` is the document as bytes or already decoded: an ``/api/traces`` response
    (``{"data": [...]}``), one trace object as the UI downloads it, or a list of traces.
    Raises BadInput naming the JSON path of the first bad record, unless ``skip_bad``.

    >>> batches = list(jaeger_to_batches(open("trace.json", "rb").read()))  # doctest: +SKIP
    """
    from tracekit.importers.documents import document_batches

    return document_batches(payload, expect="jaeger", skip_bad=skip_bad, skips=skips)
