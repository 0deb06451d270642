"""OTLP JSON (``{"resourceSpans": ...}``, Jaeger's ``/api/v3`` ``{"result": ...}``) to span rows.

The mapping mirrors what Jaeger does when it turns OTLP into its own model (collector-contrib
``traces_to_jaegerproto``), so a trace gives the same rows from OTLP as from Jaeger's JSON of it:

- resource attributes -> ``resource`` without ``service.name``, which becomes ``service``;
- the scope name/version -> the ``otel.scope.name``/``otel.scope.version`` attributes;
- kind and status -> ``kind``, ``status``, ``status_message``; ``traceState`` -> the
  ``w3c.tracestate`` attribute; non-zero dropped counts -> ``otel.dropped_*_count`` attributes;
- links -> ``links`` (kind ``child_of`` when the link's ``opentracing.ref_type`` says so, else
  ``follows_from``); events -> ``events`` (an ``event`` attribute, as Jaeger writes it, names it);
- times: start = ``startTimeUnixNano`` // 1000, duration = (end - start) // 1000 in microseconds.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any

import msgspec
import pyarrow as pa

from tracekit.importers.columns import SpanColumns
from tracekit.importers.ids import IdCache, span_id
from tracekit.importers.problems import BadInput, SkipLog
from tracekit.importers.values import go_float, go_json, parse_float, parse_int

# OTLP JSON spells field names in lowerCamelCase; gc=False as in jaeger_json.


class AnyValue(msgspec.Struct, kw_only=True, gc=False):
    stringValue: str | None = None  # noqa: N815
    boolValue: bool | None = None  # noqa: N815
    intValue: int | str | None = None  # noqa: N815
    doubleValue: float | str | None = None  # noqa: N815
    bytesValue: str | None = None  # noqa: N815
    arrayValue: ArrayValue | None = None  # noqa: N815
    kvlistValue: KeyValueList | None = None  # noqa: N815


class ArrayValue(msgspec.Struct, gc=False):
    values: list[AnyValue] | None = None


class KeyValue(msgspec.Struct, gc=False):
    key: str
    value: AnyValue | None = None


class KeyValueList(msgspec.Struct, gc=False):
    values: list[KeyValue] | None = None


class Status(msgspec.Struct, gc=False):
    code: int | str = 0
    message: str = ""


class Event(msgspec.Struct, kw_only=True, gc=False):
    timeUnixNano: int | str = 0  # noqa: N815
    name: str = ""
    attributes: list[KeyValue] | None = None
    droppedAttributesCount: int = 0  # noqa: N815


class Link(msgspec.Struct, kw_only=True, gc=False):
    traceId: str  # noqa: N815
    spanId: str  # noqa: N815
    attributes: list[KeyValue] | None = None


class Span(msgspec.Struct, kw_only=True, gc=False):
    traceId: str  # noqa: N815
    spanId: str  # noqa: N815
    parentSpanId: str | None = None  # noqa: N815
    traceState: str | None = None  # noqa: N815
    name: str = ""
    kind: int | str = 0
    startTimeUnixNano: int | str = 0  # noqa: N815
    endTimeUnixNano: int | str = 0  # noqa: N815
    attributes: list[KeyValue] | None = None
    droppedAttributesCount: int = 0  # noqa: N815
    events: list[Event] | None = None
    droppedEventsCount: int = 0  # noqa: N815
    links: list[Link] | None = None
    droppedLinksCount: int = 0  # noqa: N815
    status: Status | None = None


class Scope(msgspec.Struct, gc=False):
    name: str | None = None
    version: str | None = None


class Resource(msgspec.Struct, gc=False):
    attributes: list[KeyValue] | None = None


class ScopeSpans(msgspec.Struct, kw_only=True, gc=False):
    scope: Scope | None = None
    instrumentationLibrary: Scope | None = None  # noqa: N815 (OTLP before 0.15)
    spans: list[Span] | None = None


class ResourceSpans(msgspec.Struct, kw_only=True, gc=False):
    resource: Resource | None = None
    scopeSpans: list[ScopeSpans] | None = None  # noqa: N815
    instrumentationLibrarySpans: list[ScopeSpans] | None = None  # noqa: N815


class TracesData(msgspec.Struct, gc=False):
    resourceSpans: list[ResourceSpans] | None = None  # noqa: N815


_KIND_NUMBERS = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
}
_KIND_NAMES = {f"SPAN_KIND_{name.upper()}": name for name in _KIND_NUMBERS.values()}
_STATUS = {
    0: "UNSET",
    1: "OK",
    2: "ERROR",
    "STATUS_CODE_UNSET": "UNSET",
    "STATUS_CODE_OK": "OK",
    "STATUS_CODE_ERROR": "ERROR",
}


def value_text(value: AnyValue | None) -> str:
    """An OTLP AnyValue as text, the way Jaeger renders it as a tag (see values.py)."""
    if value is None:
        return ""
    if value.stringValue is not None:
        return value.stringValue
    if value.boolValue is not None:
        return "true" if value.boolValue else "false"
    if value.intValue is not None:
        return str(parse_int(value.intValue))
    if value.doubleValue is not None:
        return go_float(parse_float(value.doubleValue))
    if value.bytesValue is not None:
        return value.bytesValue
    if value.arrayValue is not None or value.kvlistValue is not None:
        return go_json(_raw(value))
    return ""


def _raw(value: AnyValue | None) -> Any:
    """The value as plain Python (pcommon's AsRaw), for rendering arrays and maps as JSON."""
    if value is None:
        return None
    if value.stringValue is not None:
        return value.stringValue
    if value.boolValue is not None:
        return value.boolValue
    if value.intValue is not None:
        return parse_int(value.intValue)
    if value.doubleValue is not None:
        return parse_float(value.doubleValue)
    if value.bytesValue is not None:
        return value.bytesValue
    if value.arrayValue is not None:
        return [_raw(item) for item in value.arrayValue.values or ()]
    if value.kvlistValue is not None:
        return {item.key: _raw(item.value) for item in value.kvlistValue.values or ()}
    return None


def _attributes(items: list[KeyValue] | None, into: dict[str, str], where: str) -> dict[str, str]:
    if items:
        try:
            for item in items:
                value = item.value
                text = value.stringValue if value is not None else None
                into[item.key] = text if text is not None else value_text(value)
        except ValueError as exc:
            for index, item in enumerate(items):
                try:
                    value_text(item.value)
                except ValueError:
                    raise BadInput(f"{where}[{index}].value", str(exc)) from None
            raise BadInput(where, str(exc)) from None
    return into


def otlp_id(text: str, size: int) -> str:
    """A trace (16 bytes) or span (8 bytes) id as hex; base64 ids (protobuf's JSON) converted."""
    if len(text) == 2 * size:
        return text
    if text and len(text) == 4 * ((size + 2) // 3):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return text
        if len(raw) == size:
            return raw.hex()
    return text


def add_resource_spans(
    resource_spans: ResourceSpans,
    where: str,
    columns: SpanColumns,
    skips: SkipLog | None,
    ids: IdCache,
) -> None:
    """Append the spans of one ``resourceSpans`` entry; a bad span raises BadInput or is skipped."""
    resource_attrs: dict[str, str] = {}
    if resource_spans.resource is not None:
        _attributes(
            resource_spans.resource.attributes, resource_attrs, f"{where}.resource.attributes"
        )
    service = resource_attrs.pop("service.name", None) or None
    keys = sorted(resource_attrs)
    resource = (keys, [resource_attrs[key] for key in keys])
    scope_field = "scopeSpans"
    scope_list = resource_spans.scopeSpans
    if scope_list is None:
        scope_field, scope_list = (
            "instrumentationLibrarySpans",
            resource_spans.instrumentationLibrarySpans,
        )
    for scope_index, scope_spans in enumerate(scope_list or ()):
        scope = scope_spans.scope or scope_spans.instrumentationLibrary
        scope_attrs: dict[str, str] = {}
        if scope is not None and scope.name:
            scope_attrs["otel.scope.name"] = scope.name
            # Jaeger keeps the version only along with a name
            if scope.version:
                scope_attrs["otel.scope.version"] = scope.version
        for index, span in enumerate(scope_spans.spans or ()):
            span_where = f"{where}.{scope_field}[{scope_index}].spans[{index}]"
            try:
                _add_span(span, service, resource, scope_attrs, columns, span_where, ids)
            except BadInput as exc:
                if skips is None:
                    raise
                skips.skip("span", exc)


def _add_span(
    span: Span,
    service: str | None,
    resource: tuple[list[str], list[str]],
    scope_attrs: dict[str, str],
    columns: SpanColumns,
    where: str,
    ids: IdCache,
) -> None:
    attributes = _attributes(span.attributes, dict(scope_attrs), f"{where}.attributes")
    if span.droppedAttributesCount:
        attributes["otel.dropped_attributes_count"] = str(span.droppedAttributesCount)
    if span.droppedEventsCount:
        attributes["otel.dropped_events_count"] = str(span.droppedEventsCount)
    if span.droppedLinksCount:
        attributes["otel.dropped_links_count"] = str(span.droppedLinksCount)
    if span.traceState:
        attributes["w3c.tracestate"] = span.traceState
    kind = (
        _KIND_NUMBERS.get(span.kind)  # type: ignore[call-overload]
        if span.kind.__class__ is int
        else _KIND_NAMES.get(span.kind)  # type: ignore[arg-type]
    )
    status = "UNSET"
    message = None
    if span.status is not None:
        status = _STATUS.get(span.status.code, "UNSET")
        message = span.status.message or None
    try:
        start_ns = parse_int(span.startTimeUnixNano)
    except ValueError as exc:
        raise BadInput(f"{where}.startTimeUnixNano", str(exc)) from None
    try:
        end_ns = parse_int(span.endTimeUnixNano)
    except ValueError as exc:
        raise BadInput(f"{where}.endTimeUnixNano", str(exc)) from None
    trace_id = ids.trace_id(otlp_id(span.traceId, 16))
    parent = span.parentSpanId
    parent = span_id(otlp_id(parent, 8)) if parent else None

    links: list[tuple[str, str, str]] = []
    for number, link in enumerate(span.links or ()):
        link_attrs = _attributes(link.attributes, {}, f"{where}.links[{number}].attributes")
        link_kind = (
            "child_of" if link_attrs.get("opentracing.ref_type") == "child_of" else "follows_from"
        )
        links.append(
            (ids.trace_id(otlp_id(link.traceId, 16)), span_id(otlp_id(link.spanId, 8)), link_kind)
        )

    events: list[tuple[int, str, dict[str, str]]] = []
    for number, event in enumerate(span.events or ()):
        fields = _attributes(event.attributes, {}, f"{where}.events[{number}].attributes")
        if event.droppedAttributesCount:
            fields["otel.dropped_attributes_count"] = str(event.droppedAttributesCount)
        name = event.name
        # Jaeger writes the name as an "event" field unless the event already has one, which
        # then names it when read back: do the same so both formats agree.
        if "event" in fields:
            name = fields.pop("event")
        try:
            time_us = parse_int(event.timeUnixNano) // 1000
        except ValueError as exc:
            raise BadInput(f"{where}.events[{number}].timeUnixNano", str(exc)) from None
        events.append((time_us, name, fields))

    start_us = start_ns // 1000
    duration = (end_ns - start_ns) // 1000 if end_ns > start_ns else 0
    columns.add(
        trace_id,
        span_id(otlp_id(span.spanId, 8)),
        parent,
        service,
        span.name,
        kind or "unspecified",
        start_us,
        duration,
        status,
        message,
        attributes,
        resource,
        links,
        events,
    )


def otlp_to_batches(
    payload: bytes | str | dict[str, Any], skip_bad: bool = False, skips: SkipLog | None = None
) -> Iterator[pa.RecordBatch]:
    """Span batches (tracekit.schema.SPAN_SCHEMA) from one OTLP JSON document.

    ``payload`` is ``{"resourceSpans": [...]}`` or Jaeger's ``/api/v3`` ``{"result": {...}}``, as
    bytes or already decoded. Raises BadInput naming the JSON path of the first bad record,
    unless ``skip_bad``.
    """
    from tracekit.importers.documents import document_batches

    return document_batches(payload, expect="otlp", skip_bad=skip_bad, skips=skips)
