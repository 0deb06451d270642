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

from tracekit.importers.problems import BadInput, SkipLog
from tracekit.importers.values import go_float, go_json, parse_float, parse_int, unix_nanos

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


def attributes_dict(
    items: list[KeyValue] | None, into: dict[str, str], where: str
) -> dict[str, str]:
    """``items`` added to ``into`` as texts (the last of a repeated key wins); a value that
    cannot be rendered raises BadInput at ``where[index].value``."""
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


def span_problem(span: Span, where: str) -> BadInput | None:
    """What makes one span unreadable (a value its field cannot hold), as BadInput with the
    span's JSON path ``where``, or None: the careful, span-by-span check behind the precise
    message for a span ``otlp_batch.resource_spans_batch`` flags."""
    try:
        attributes_dict(span.attributes, {}, f"{where}.attributes")
        for field in ("startTimeUnixNano", "endTimeUnixNano"):
            try:
                unix_nanos(getattr(span, field))
            except ValueError as exc:
                raise BadInput(f"{where}.{field}", str(exc)) from None
        for number, link in enumerate(span.links or ()):
            attributes_dict(link.attributes, {}, f"{where}.links[{number}].attributes")
        for number, event in enumerate(span.events or ()):
            attributes_dict(event.attributes, {}, f"{where}.events[{number}].attributes")
            try:
                unix_nanos(event.timeUnixNano)
            except ValueError as exc:
                raise BadInput(f"{where}.events[{number}].timeUnixNano", str(exc)) from None
    except BadInput as problem:
        return problem
    return None


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
