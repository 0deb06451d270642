"""Jaeger JSON (the ``/api/traces`` response and the UI's trace download) to span rows.

The mapping is Jaeger's own (OpenTelemetry collector-contrib ``jaegerproto_to_traces``):

- ``span.kind`` tag -> ``kind``; ``error=true`` (bool) or ``otel.status_code`` -> ``status``, with
  ``otel.status_description`` -> ``status_message``. These tags are removed from ``attributes``;
- the first CHILD_OF reference into the same trace -> ``parent_span_id``; every other reference
  (FOLLOWS_FROM, and further CHILD_OF) -> ``links`` with kind ``follows_from``/``child_of``;
- logs -> ``events``, the ``event`` field naming the event; process tags -> ``resource``;
- ``otel.library.name``/``.version`` (older Jaeger) -> ``otel.scope.name``/``.version``;
- span ``warnings`` -> the ``@jaeger@warnings`` attribute (where Jaeger keeps them in OTLP).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pyarrow as pa

from tracekit.importers.columns import SpanColumns
from tracekit.importers.ids import IdCache, span_id
from tracekit.importers.problems import BadInput, SkipLog
from tracekit.importers.values import go_json, jaeger_tag_text
from tracekit.schema import KINDS

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


_KINDS = frozenset(KINDS) - {"unspecified"}


def add_trace(
    trace: Trace, where: str, columns: SpanColumns, skips: SkipLog | None, ids: IdCache
) -> None:
    """Append one trace's spans; a bad span raises BadInput, or is counted in ``skips``."""
    processes = trace.processes or {}
    resources: dict[Any, tuple[str | None, tuple[list[str], list[str]]]] = {}
    for index, span in enumerate(trace.spans):
        try:
            _add_span(span, processes, resources, columns, where, ids)
        except BadInput as exc:
            problem = BadInput(f"{where}.spans[{index}]{exc.where}", exc.problem)
            if skips is None:
                raise problem from None
            skips.skip("span", problem)


def _add_span(
    span: Span,
    processes: dict[str, Process],
    resources: dict[Any, tuple[str | None, tuple[list[str], list[str]]]],
    columns: SpanColumns,
    trace_where: str,
    ids: IdCache,
) -> None:
    process_id = span.processID
    resource = resources.get(process_id) if process_id is not None else None
    if resource is None:
        process = processes.get(process_id) if process_id is not None else None
        if process is not None:
            resource = resources[process_id] = _resource(process, f".processes[{process_id!r}]")
        elif span.process is not None:
            resource = _resource(span.process, ".process")
        elif process_id is None:
            raise BadInput("", "has neither a processID nor a process")
        else:
            raise BadInput(
                ".processID",
                f"names process {process_id!r}, which is not in {trace_where}.processes",
            )
    trace_id = ids.trace_id(span.traceID)
    tags = span.tags
    try:
        attributes = (
            {
                tag.key: value if (value := tag.value).__class__ is str else _text(tag)
                for tag in tags
            }
            if tags
            else {}
        )
    except ValueError as exc:
        raise BadInput(f".tags[{_bad_tag(tags or [])}].value", str(exc)) from None
    kind = attributes.pop("span.kind", None)
    if kind not in _KINDS:
        kind = "unspecified"
    status = "UNSET"
    code = attributes.pop("otel.status_code", None)
    if attributes.get("error") == "true" and _is_bool_tag(tags, "error"):
        # Jaeger: a bool error=true is the ultimate truth, whatever otel.status_code says
        del attributes["error"]
        status = "ERROR"
    elif code is not None:
        code = code.upper()
        if code == "OK" or code == "ERROR":
            status = code
    message = attributes.pop("otel.status_description", None) or None
    if "otel.library.name" in attributes:
        attributes.setdefault("otel.scope.name", attributes.pop("otel.library.name"))
    if "otel.library.version" in attributes:
        attributes.setdefault("otel.scope.version", attributes.pop("otel.library.version"))
    if span.warnings:
        attributes["@jaeger@warnings"] = go_json(span.warnings)

    parent = None
    links: list[tuple[str, str, str]] = []
    references = span.references
    if references:
        for ref in references:
            if ref.refType.upper() == "CHILD_OF" and (
                not ref.traceID or ids.trace_id(ref.traceID) == trace_id
            ):
                parent = span_id(ref.spanID)
                break
        for ref in references:
            ref_span = span_id(ref.spanID)
            if ref.refType.upper() == "CHILD_OF":
                if ref_span == parent:
                    continue
                link_kind = "child_of"
            else:
                link_kind = "follows_from"
            links.append(
                (ids.trace_id(ref.traceID) if ref.traceID else trace_id, ref_span, link_kind)
            )

    events: list[tuple[int, str, dict[str, str]]] = []
    if span.logs:
        for number, log in enumerate(span.logs):
            try:
                fields = (
                    {
                        tag.key: value if (value := tag.value).__class__ is str else _text(tag)
                        for tag in log.fields
                    }
                    if log.fields
                    else {}
                )
            except ValueError as exc:
                raise BadInput(
                    f".logs[{number}].fields[{_bad_tag(log.fields or [])}].value", str(exc)
                ) from None
            events.append((log.timestamp, fields.pop("event", ""), fields))

    duration = span.duration if span.duration > 0 else 0
    columns.add(
        trace_id,
        span_id(span.spanID),
        parent,
        resource[0],
        span.operationName,
        kind,
        span.startTime,
        duration,
        status,
        message,
        attributes,
        resource[1],
        links,
        events,
    )


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


def _resource(process: Process, where: str) -> tuple[str | None, tuple[list[str], list[str]]]:
    values: dict[str, str] = {}
    if process.tags:
        try:
            for tag in process.tags:
                values[tag.key] = _text(tag)
        except ValueError as exc:
            raise BadInput(f"{where}.tags[{_bad_tag(process.tags)}].value", str(exc)) from None
    keys = sorted(values)
    return process.serviceName or None, (keys, [values[key] for key in keys])


def _bad_tag(tags: list[Tag]) -> int:
    for index, tag in enumerate(tags):
        try:
            _text(tag)
        except ValueError:
            return index
    return -1


def _is_bool_tag(tags: list[Tag] | None, key: str) -> bool:
    found = False
    for tag in tags or ():
        if tag.key == key:
            # the last tag of a key wins, as in the attribute map
            found = (tag.type or "").lower() == "bool" and tag.value is True
    return found


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
