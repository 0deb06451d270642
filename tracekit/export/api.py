"""The two Jaeger query APIs export speaks: v3 (OTLP JSON) and the classic /api/traces JSON.

Both give the same three things: the service list, a search (service, time window, limit)
returning whole traces, and one trace by id. Responses are parsed once and split per trace
(``TraceDoc``), so the exporter can drop traces it already has before converting anything.
Converting a trace to span rows is the importers' job (tracekit.export.convert).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from tracekit.errors import UserError
from tracekit.export.client import JaegerClient, NotFound
from tracekit.export.window import Interval, format_us
from tracekit.schema import normalize_trace_id

# Raw traces skip the query service's "adjusters". Besides returning spans exactly as stored,
# this avoids a Jaeger v2.13 race: the adjusters sort attributes in place on the memory store's
# own copy, so concurrent searches can corrupt stored traces (we saw a resource's
# service.name swapped with another attribute's value under 4 parallel requests).
RAW_CLASSIC = [("raw", "true")]
RAW_V3 = [("raw_traces", "true")]


@dataclass
class TraceDoc:
    """One trace as the API returned it, plus what dedup and completeness checks need."""

    trace_id: str
    spans: int
    # The trace's own JSON bytes, sliced out of the answer without copying its content:
    # classic: the trace object; v3: its resourceSpans objects.
    payload: list[bytes] = field(repr=False)


@dataclass
class SearchResult:
    """The traces one search returned and whether it hit the limit (more may exist)."""

    traces: list[TraceDoc]
    full: bool
    url: str


# Light views of the answers: only what grouping, dedup and completeness need. Everything
# else stays raw JSON for the importers, which decode it into their own typed structs.
class _ClassicTrace(msgspec.Struct, gc=False):
    traceID: str = ""  # noqa: N815 - Jaeger's field name
    spans: list[msgspec.Raw] | None = None


class _ClassicAnswer(msgspec.Struct, gc=False):
    data: list[msgspec.Raw] | None = None


class _V3Result(msgspec.Struct, gc=False):
    resourceSpans: list[msgspec.Raw] | None = None  # noqa: N815


class _V3Answer(msgspec.Struct, gc=False):
    result: _V3Result | None = None


class _ClassicServices(msgspec.Struct, gc=False):
    data: list[str] | None = None


class _V3Services(msgspec.Struct, gc=False):
    services: list[str] | None = None


_classic_services = msgspec.json.Decoder(_ClassicServices)
_v3_services = msgspec.json.Decoder(_V3Services)
_classic_answer = msgspec.json.Decoder(_ClassicAnswer)
_classic_trace = msgspec.json.Decoder(_ClassicTrace)
_v3_answer = msgspec.json.Decoder(_V3Answer)


class ClassicApi:
    """Jaeger's classic HTTP API used by its UI: /api/services, /api/traces, /api/traces/{id}."""

    name = "v1"

    def services(self, client: JaegerClient) -> list[str]:
        """Service names known to Jaeger."""
        body = _get_or_refuse(client, "/api/services")
        answer = _decode_answer(_classic_services, body, "/api/services")
        return sorted(set(answer.data or ()))

    def search_request(
        self, service: str, interval: Interval, limit: int
    ) -> tuple[str, list[tuple[str, str]]]:
        """Path and query of a search (times in microseconds, both bounds included)."""
        params = [
            ("service", service),
            ("start", str(interval[0])),
            ("end", str(interval[1])),
            ("limit", str(limit)),
            ("raw", "true"),
        ]
        return "/api/traces", params

    def search(
        self, client: JaegerClient, service: str, interval: Interval, limit: int
    ) -> SearchResult:
        """Traces of `service` with a span starting within `interval`."""
        path, params = self.search_request(service, interval, limit)
        body = _get_or_refuse(client, path, params)
        traces = self.parse(body, path)
        return SearchResult(traces, len(traces) >= limit, path)

    def trace(self, client: JaegerClient, trace_id: str) -> TraceDoc | None:
        """One trace by id, or None when Jaeger no longer has it."""
        path = f"/api/traces/{trace_id}"
        try:
            docs = self.parse(client.get(path, RAW_CLASSIC), path)
        except NotFound:
            return None
        return docs[0] if docs else None

    def parse(self, body: bytes, where: str) -> list[TraceDoc]:
        """Split a {"data": [trace, ...]} answer into TraceDocs."""
        answer = _decode_answer(_classic_answer, body, where)
        docs = []
        for raw in answer.data or []:
            trace = _decode_answer(_classic_trace, raw, where)
            spans = len(trace.spans or ())
            docs.append(TraceDoc(normalize_trace_id(trace.traceID), spans, [raw]))
        return docs

    @staticmethod
    def document(docs: list[TraceDoc]) -> bytes:
        """A classic JSON document holding `docs` (what the importers read)."""
        return b'{"data":[' + b",".join(part for doc in docs for part in doc.payload) + b"]}"


class V3Api:
    """Jaeger's API v3 over HTTP: /api/v3/services, /api/v3/traces, /api/v3/traces/{id}."""

    name = "v3"

    def services(self, client: JaegerClient) -> list[str]:
        """Service names known to Jaeger."""
        body = _get_or_refuse(client, "/api/v3/services")
        answer = _decode_answer(_v3_services, body, "/api/v3/services")
        return sorted(set(answer.services or ()))

    def search_request(
        self, service: str, interval: Interval, limit: int
    ) -> tuple[str, list[tuple[str, str]]]:
        """Path and query of a search (RFC 3339 times, both bounds included)."""
        params = [
            ("query.service_name", service),
            ("query.start_time_min", format_us(interval[0])),
            ("query.start_time_max", format_us(interval[1])),
            # Jaeger v2.13 reads query.num_traces; later versions call it search_depth.
            ("query.num_traces", str(limit)),
            ("query.search_depth", str(limit)),
            ("query.raw_traces", "true"),
        ]
        return "/api/v3/traces", params

    def search(
        self, client: JaegerClient, service: str, interval: Interval, limit: int
    ) -> SearchResult:
        """Traces of `service` with a span starting within `interval`."""
        path, params = self.search_request(service, interval, limit)
        try:
            body = client.get(path, params)
        except NotFound:  # v3 answers "No traces found" with a 404
            return SearchResult([], False, path)
        traces = self.parse(body, path)
        return SearchResult(traces, len(traces) >= limit, path)

    def trace(self, client: JaegerClient, trace_id: str) -> TraceDoc | None:
        """One trace by id, or None when Jaeger no longer has it."""
        path = f"/api/v3/traces/{trace_id}"
        try:
            docs = self.parse(client.get(path, RAW_V3), path)
        except NotFound:
            return None
        return docs[0] if docs else None

    def parse(self, body: bytes, where: str) -> list[TraceDoc]:
        """Split a {"result": {"resourceSpans": [...]}} answer into TraceDocs."""
        answer = _decode_answer(_v3_answer, body, where)
        resources = (answer.result.resourceSpans if answer.result else None) or []
        payloads: dict[str, list[bytes]] = {}
        counts: dict[str, int] = {}
        names: dict[bytes, str] = {}  # each trace has a resource per service: normalize once
        for raw in resources:
            for trace_id, spans, piece in _resource_traces(raw, where, names):
                payloads.setdefault(trace_id, []).append(piece)
                counts[trace_id] = counts.get(trace_id, 0) + spans
        return [
            TraceDoc(trace_id, counts[trace_id], pieces) for trace_id, pieces in payloads.items()
        ]

    @staticmethod
    def document(docs: list[TraceDoc]) -> bytes:
        """An OTLP JSON document holding `docs` (what the importers read)."""
        parts = b",".join(part for doc in docs for part in doc.payload)
        return b'{"resourceSpans":[' + parts + b"]}"


_TRACE_KEY = b'"traceId":"'


def _resource_traces(
    raw: bytes, where: str, names: dict[bytes, str]
) -> list[tuple[str, int, bytes]]:
    """(trace id, spans, JSON) of the traces in one resourceSpans object.

    Jaeger writes compact JSON and puts each trace's resources separately, so the ids and the
    span count are read with byte searches (a quote inside a JSON string is escaped, so the
    key pattern only matches real keys: those of spans and of their links); a resource with
    several trace ids (or links into other traces) goes to _split_resource. `names` caches
    the normalized ids.
    """
    data = bytes(raw)
    first = data.find(_TRACE_KEY)
    if first >= 0:
        start = first + len(_TRACE_KEY)
        trace_id = data[start : data.find(b'"', start)]
        spans = data.count(_TRACE_KEY)
        # an id that is not UTF-8 is no id: the full decode below says what is wrong
        if data.count(_TRACE_KEY + trace_id + b'"') == spans and trace_id.isascii():
            name = names.get(trace_id)
            if name is None:
                name = names[trace_id] = normalize_trace_id(trace_id.decode())
            return [(name, spans, raw)]
    return _split_resource(data, where)


class _SpanTraceId(msgspec.Struct, gc=False):
    traceId: str = ""  # noqa: N815


class _ScopeTraceIds(msgspec.Struct, gc=False):
    spans: list[_SpanTraceId] | None = None


class _ResourceTraceIds(msgspec.Struct, gc=False):
    scopeSpans: list[_ScopeTraceIds] | None = None  # noqa: N815


_resource_trace_ids = msgspec.json.Decoder(_ResourceTraceIds)
_resource_decoder = msgspec.json.Decoder()


def _split_resource(data: bytes, where: str) -> list[tuple[str, int, bytes]]:
    """(trace id, spans, JSON) of a resource whose byte search found several trace ids (or
    none): those of its spans are read first, and a resource whose spans are all of one trace
    (the others were links) is kept whole; else it is split into a resource per trace."""
    scopes = _decode_answer(_resource_trace_ids, data, where).scopeSpans or []
    ids = {span.traceId for scope in scopes for span in scope.spans or ()}
    names = {normalize_trace_id(trace_id) for trace_id in ids}
    if len(names) == 1:
        spans = sum(len(scope.spans or ()) for scope in scopes)
        return [(names.pop(), spans, data)]
    # the typed decode above checked the shape this walks: objects, lists, text ids
    resource = _decode_answer(_resource_decoder, data, where)
    pieces: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for scope in resource.get("scopeSpans") or []:
        for span in scope.get("spans") or []:
            trace_id = normalize_trace_id(str(span.get("traceId", "")))
            counts[trace_id] = counts.get(trace_id, 0) + 1
            piece = pieces.setdefault(trace_id, {**resource, "scopeSpans": []})
            scopes = piece["scopeSpans"]
            if not scopes or scopes[-1]["_from"] is not scope:
                scopes.append({**scope, "spans": [], "_from": scope})
            scopes[-1]["spans"].append(span)
    for piece in pieces.values():
        for scope in piece["scopeSpans"]:
            del scope["_from"]
    return [
        (trace_id, counts[trace_id], msgspec.json.encode(piece))
        for trace_id, piece in pieces.items()
    ]


APIS = (V3Api, ClassicApi)


def choose_api(client: JaegerClient, wanted: str) -> V3Api | ClassicApi:
    """The API to use: `v3`, `v1`, or `auto` (v3 when the server offers it)."""
    if wanted == "v3":
        return V3Api()
    if wanted == "v1":
        return ClassicApi()
    try:
        client.get("/api/v3/services")
    except NotFound:
        return ClassicApi()
    return V3Api()


def _get_or_refuse(
    client: JaegerClient, path: str, params: list[tuple[str, str]] | None = None
) -> bytes:
    """The answer to a request that a Jaeger never answers with 404."""
    try:
        return client.get(path, params)
    except NotFound:
        raise UserError(
            f"{client.display_url}: HTTP 404 on {path}: no Jaeger query API there (is --jaeger "
            "the query service's base URL, with its path prefix if it has one?)"
        ) from None


def _decode_answer(decoder: msgspec.json.Decoder[Any], body: bytes, where: str) -> Any:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UserError(f"{where}: unexpected answer from Jaeger: {_short(exc)}") from exc
    except RecursionError:
        # msgspec stops at Python's recursion limit (~1000 levels); no Jaeger answer nests so
        raise UserError(f"{where}: unexpected answer from Jaeger: JSON nested too deeply") from None


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]
