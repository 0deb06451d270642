"""One JSON document of traces, in any supported shape, to span batches.

A Jaeger ``{"data": [...]}`` document in bytes goes to the compiled converter first
(tracekit.importers.native), which maps what every Jaeger writes and hands anything else back.
A document is otherwise decoded once, with types (msgspec), into whichever shape it has: a Jaeger
``/api/traces`` response, a bare Jaeger trace, a list of traces, OTLP ``{"resourceSpans"}`` or
Jaeger's ``/api/v3`` ``{"result"}``. A type error anywhere stops the typed decode with the JSON
path of the culprit; under ``--skip-bad`` the document is then decoded loosely and each trace
(or span) is checked on its own, so only the bad ones are skipped.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Generator, Iterator
from typing import Any

import msgspec
import pyarrow as pa

from tracekit.importers import jaeger_json as jaeger
from tracekit.importers import native, otlp_batch
from tracekit.importers import otlp_json as otlp
from tracekit.importers.columns import BATCH_ROWS, SpanColumns
from tracekit.importers.problems import BadInput, SkipLog, validation_problem


class Document(msgspec.Struct, kw_only=True, gc=False):
    """Every top-level shape at once; which fields are set tells the format."""

    data: list[jaeger.Trace] | None = None
    errors: list[Any] | None = None
    traceID: str | None = None  # noqa: N815
    spans: list[jaeger.Span] | None = None
    processes: dict[str, jaeger.Process] | None = None
    resourceSpans: list[otlp.ResourceSpans] | None = None  # noqa: N815
    result: otlp.TracesData | None = None


# Documents with fewer spans are checked span by span and mapped together with the documents
# after them (jaeger_json.defer_traces, otlp_batch.defer_resource_spans): a JSON Lines file
# may hold a trace per line.
SMALL_DOCUMENT = 500

_DOCUMENT = Document | list[Document]
_decoder = msgspec.json.Decoder(_DOCUMENT)

EXPECTED = (
    'Jaeger JSON ({"data": [...]}, a trace with "spans", or a list of traces) or OTLP '
    'JSON ({"resourceSpans": [...]} or {"result": {"resourceSpans": [...]}})'
)


def decode_error(exc: msgspec.DecodeError, size: int) -> BadInput:
    """A JSON syntax error as BadInput with the byte position."""
    message = str(exc)
    if "truncated" in message:
        return BadInput(
            "", f"truncated JSON: the input ends at byte {size} before the document is complete"
        )
    found = re.search(r"\(byte (\d+)\)", message)
    what = re.sub(r"^JSON is malformed: ", "", re.sub(r"\s*\(byte \d+\)", "", message))
    where = f" at byte {found.group(1)}" if found else ""
    return BadInput("", f"malformed JSON{where}: {what}")


def decode(payload: bytes | str | dict[str, Any] | list[Any]) -> Document | list[Document]:
    """The document, typed; raises BadInput for bad JSON or wrong value types."""
    try:
        if isinstance(payload, bytes | str):
            return _decoder.decode(payload)
        return msgspec.convert(payload, _DOCUMENT)
    except msgspec.ValidationError as exc:
        raise validation_problem(exc) from None
    except msgspec.DecodeError as exc:
        raise decode_error(exc, len(payload)) from None
    except RecursionError:
        raise too_deep() from None


def too_deep() -> BadInput:
    """Nesting deeper than msgspec (or Python) recurses: no trace format nests so deep."""
    return BadInput(
        "", "malformed JSON: nested too deeply (over a thousand levels of arrays or objects)"
    )


def _decode_loose(payload: bytes | str) -> Any:
    """The document untyped (under --skip-bad, after a type error): bad JSON after the type
    error is found only now."""
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise decode_error(exc, len(payload)) from None
    except RecursionError:
        raise too_deep() from None


def feed(
    payload: bytes | str | dict[str, Any] | list[Any],
    columns: SpanColumns,
    *,
    expect: str | None = None,
    skips: SkipLog | None = None,
    defer_small: bool = True,
) -> Generator[pa.RecordBatch, None, str]:
    """Add one document's spans to ``columns``, yielding a batch whenever BATCH_ROWS are full.

    Returns the format name ("jaeger" or "otlp") as the generator's value. Rows of the last,
    partly filled batch stay in ``columns``. With ``skips`` bad records are counted there and
    skipped instead of raising BadInput. A document under SMALL_DOCUMENT spans is checked now
    and mapped with the documents fed after it, unless ``defer_small`` is false (no documents
    follow: mapping it at once skips the span-by-span check).
    """
    if isinstance(payload, bytes) and expect in (None, "jaeger"):
        batch = native.jaeger_batch(payload)  # the compiled path; None: map it here
        if batch is not None:
            while batch.num_rows:
                room = BATCH_ROWS - len(columns)
                columns.add_batch(batch.slice(0, room))
                batch = batch.slice(room)
                if len(columns) >= BATCH_ROWS:
                    yield columns.take_batch()
            return "jaeger"
    # Decoding and row building allocate millions of small objects without cycles: the cyclic
    # collector would rescan them again and again, so it is paused (not across yields).
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            document = decode(payload)
        except BadInput as problem:
            if skips is None or problem.problem.startswith(("truncated JSON", "malformed JSON")):
                raise
            document = None
        kind, items = (
            _units(document, expect) if document is not None else _salvage(payload, expect, skips)  # type: ignore[arg-type]
        )
        units = [(where, unit) for where, unit in items if unit is not None]
        add, defer = (
            (jaeger.add_traces, jaeger.defer_traces)
            if kind == "jaeger"
            else (otlp_batch.add_resource_spans, otlp_batch.defer_resource_spans)
        )
        # counted only when the document may be deferred (the loop below counts again)
        size = sum(_span_count(kind, unit) for _, unit in units) if defer_small else None
        if size is not None and size < SMALL_DOCUMENT and size < BATCH_ROWS:
            if len(columns) + size > BATCH_ROWS:
                if collecting:
                    gc.enable()
                yield columns.take_batch()
                gc.disable()
            defer(units, columns, skips)
            if len(columns) >= BATCH_ROWS:
                if collecting:
                    gc.enable()
                yield columns.take_batch()
            return kind
        # units are mapped a batch at a time: as many as fill the current batch
        chunk: list[tuple[str, Any]] = []
        size = 0
        for where, unit in units:
            chunk.append((where, unit))
            size += _span_count(kind, unit)
            if len(columns) + size >= BATCH_ROWS:
                add(chunk, columns, skips)
                chunk, size = [], 0
                if not len(columns):  # all skipped (--skip-bad)
                    continue
                if collecting:
                    gc.enable()
                yield columns.take_batch()
                gc.disable()
        if chunk:
            add(chunk, columns, skips)
        return kind
    finally:
        if collecting:
            gc.enable()


def _span_count(kind: str, unit: Any) -> int:
    if kind == "jaeger":
        return len(unit.spans)
    scopes = unit.scopeSpans if unit.scopeSpans is not None else unit.instrumentationLibrarySpans
    return sum(len(scope.spans or ()) for scope in scopes or ())


def document_batches(
    payload: bytes | str | dict[str, Any] | list[Any],
    *,
    expect: str | None = None,
    skip_bad: bool = False,
    skips: SkipLog | None = None,
    defer_small: bool = True,
) -> Iterator[pa.RecordBatch]:
    """All span batches of one document (see ``feed``)."""
    columns = SpanColumns()
    if skip_bad and skips is None:
        skips = SkipLog()
    yield from feed(
        payload,
        columns,
        expect=expect,
        skips=skips if skip_bad else None,
        defer_small=defer_small,
    )
    if len(columns):
        yield columns.take_batch()


def _units(document: Document | list[Document], expect: str | None) -> tuple[str, list[Any]]:
    """The format and its (json path, trace or resourceSpans) units."""
    if isinstance(document, list):
        traces = []
        for index, item in enumerate(document):
            if item.spans is None:
                raise BadInput(f"$[{index}]", 'is not a trace (no "spans")')
            traces.append((f"$[{index}]", _bare_trace(item)))
        return _check("jaeger", expect), traces
    if document.data is not None:
        return _check("jaeger", expect), [
            (f"$.data[{index}]", trace) for index, trace in enumerate(document.data)
        ]
    if document.spans is not None:
        return _check("jaeger", expect), [("$", _bare_trace(document))]
    if document.resourceSpans is not None:
        return _check("otlp", expect), [
            (f"$.resourceSpans[{index}]", item) for index, item in enumerate(document.resourceSpans)
        ]
    if document.result is not None:
        return _check("otlp", expect), [
            (f"$.result.resourceSpans[{index}]", item)
            for index, item in enumerate(document.result.resourceSpans or ())
        ]
    if document.errors:
        raise BadInput("$.errors", f"the Jaeger API answered with errors: {document.errors!r:.200}")
    if document.errors is not None:  # {"data": null, "errors": []}: an empty answer
        return _check("jaeger", expect), []
    raise BadInput("", f"not a trace file: expected {EXPECTED}")


def _check(kind: str, expect: str | None) -> str:
    if expect is not None and kind != expect:
        raise BadInput("", f"expected {expect} JSON, found {kind} JSON")
    return kind


def _bare_trace(document: Document) -> jaeger.Trace:
    return jaeger.Trace(
        traceID=document.traceID, spans=document.spans or [], processes=document.processes
    )


def _salvage(
    payload: bytes | str | dict[str, Any] | list[Any], expect: str | None, skips: SkipLog
) -> tuple[str, Iterator[tuple[str, Any]]]:
    """Under --skip-bad, after a type error: check each trace (or resourceSpans, or span) on its
    own; bad ones are counted in ``skips`` and come out as None."""
    loose = _decode_loose(payload) if isinstance(payload, bytes | str) else payload
    kind, units = _loose_units(loose)
    _check(kind, expect)
    check = _salvage_trace if kind == "jaeger" else _salvage_resource_spans
    return kind, ((where, check(unit, where, skips)) for where, unit in units)


def _loose_units(loose: Any) -> tuple[str, list[tuple[str, Any]]]:
    if isinstance(loose, list):
        return "jaeger", [(f"$[{index}]", item) for index, item in enumerate(loose)]
    if not isinstance(loose, dict):
        raise BadInput("$", f"not a trace file: expected {EXPECTED}")
    for key, kind, prefix in (
        ("data", "jaeger", "$.data"),
        ("resourceSpans", "otlp", "$.resourceSpans"),
    ):
        if key in loose:
            items = loose[key]
            if not isinstance(items, list):
                raise BadInput(
                    prefix, f"wrong value type: expected array, got {type(items).__name__}"
                )
            return kind, [(f"{prefix}[{index}]", item) for index, item in enumerate(items)]
    if "result" in loose:
        result = loose["result"]
        items = result.get("resourceSpans") if isinstance(result, dict) else None
        if not isinstance(items, list):
            raise BadInput("$.result.resourceSpans", "wrong value type: expected array")
        return "otlp", [
            (f"$.result.resourceSpans[{index}]", item) for index, item in enumerate(items)
        ]
    if "spans" in loose:
        return "jaeger", [("$", loose)]
    raise BadInput("", f"not a trace file: expected {EXPECTED}")


def _salvage_trace(unit: Any, where: str, skips: SkipLog) -> jaeger.Trace | None:
    try:
        return msgspec.convert(unit, jaeger.Trace)
    except msgspec.ValidationError as exc:
        problem = validation_problem(exc, where)
    spans = unit.get("spans") if isinstance(unit, dict) else None
    if not isinstance(spans, list):
        skips.skip("trace", problem)
        return None
    try:
        shell = msgspec.convert({**unit, "spans": []}, jaeger.Trace)
    except msgspec.ValidationError as exc:
        skips.skip("trace", validation_problem(exc, where))
        return None
    for index, span in enumerate(spans):
        try:
            shell.spans.append(msgspec.convert(span, jaeger.Span))
        except msgspec.ValidationError as exc:
            skips.skip("span", validation_problem(exc, f"{where}.spans[{index}]"))
    return shell


def _salvage_resource_spans(unit: Any, where: str, skips: SkipLog) -> otlp.ResourceSpans | None:
    try:
        return msgspec.convert(unit, otlp.ResourceSpans)
    except msgspec.ValidationError as exc:
        problem = validation_problem(exc, where)
    if not isinstance(unit, dict):
        skips.skip("resource", problem)
        return None
    field = "scopeSpans" if "scopeSpans" in unit else "instrumentationLibrarySpans"
    scope_list = unit.get(field)
    try:
        shell = msgspec.convert({**unit, field: []}, otlp.ResourceSpans)
    except msgspec.ValidationError as exc:
        skips.skip("resource", validation_problem(exc, where))
        return None
    if not isinstance(scope_list, list):
        skips.skip("resource", problem)
        return None
    for scope_index, scope_unit in enumerate(scope_list):
        scope_where = f"{where}.{field}[{scope_index}]"
        spans = scope_unit.get("spans") if isinstance(scope_unit, dict) else None
        try:
            scope_spans = msgspec.convert({**scope_unit, "spans": []}, otlp.ScopeSpans)
        except (msgspec.ValidationError, TypeError) as exc:
            skips.skip("resource", BadInput(scope_where, str(exc)))
            continue
        if not isinstance(spans, list):
            skips.skip(
                "resource", BadInput(f"{scope_where}.spans", "wrong value type: expected array")
            )
            continue
        for index, span in enumerate(spans):
            try:
                scope_spans.spans.append(msgspec.convert(span, otlp.Span))  # type: ignore[union-attr]
            except msgspec.ValidationError as exc:
                skips.skip("span", validation_problem(exc, f"{scope_where}.spans[{index}]"))
        if shell.scopeSpans is None:
            shell.scopeSpans = []
        shell.scopeSpans.append(scope_spans)
    return shell
