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

_decode = msgspec.json.Decoder().decode

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
    missing_parents: int
    # classic: the trace object; v3: the list of resourceSpans holding this trace's spans
    payload: Any = field(repr=False)


@dataclass
class SearchResult:
    """The traces one search returned and whether it hit the limit (more may exist)."""

    traces: list[TraceDoc]
    full: bool
    url: str


class ClassicApi:
    """Jaeger's classic HTTP API used by its UI: /api/services, /api/traces, /api/traces/{id}."""

    name = "v1"

    def services(self, client: JaegerClient) -> list[str]:
        """Service names known to Jaeger."""
        payload = _json(client.get("/api/services"), "/api/services")
        return sorted(str(name) for name in (payload.get("data") or []))

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
        body = client.get(path, params)
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
        payload = _json(body, where)
        docs = []
        for trace in payload.get("data") or []:
            spans = trace.get("spans") or []
            ids = {span.get("spanID") for span in spans}
            missing = 0
            for span in spans:
                for ref in span.get("references") or []:
                    if ref.get("refType") == "CHILD_OF":
                        missing += ref.get("spanID") not in ids
                        break
            trace_id = normalize_trace_id(str(trace.get("traceID", "")))
            docs.append(TraceDoc(trace_id, len(spans), missing, trace))
        return docs

    @staticmethod
    def document(docs: list[TraceDoc]) -> dict[str, Any]:
        """A classic JSON document holding `docs` (what the importers read)."""
        return {"data": [doc.payload for doc in docs]}


class V3Api:
    """Jaeger's API v3 over HTTP: /api/v3/services, /api/v3/traces, /api/v3/traces/{id}."""

    name = "v3"

    def services(self, client: JaegerClient) -> list[str]:
        """Service names known to Jaeger."""
        payload = _json(client.get("/api/v3/services"), "/api/v3/services")
        return sorted(str(name) for name in (payload.get("services") or []))

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
        payload = _json(body, where)
        result = payload.get("result") or {}
        by_trace: dict[str, list[Any]] = {}
        counts: dict[str, int] = {}
        span_ids: dict[str, set[str]] = {}
        parents: dict[str, list[str]] = {}
        for resource_spans in result.get("resourceSpans") or []:
            # Jaeger puts each trace's resources separately, but stay correct if one resource
            # ever mixes traces: split it per trace.
            split: dict[str, list[Any]] = {}
            for scope_spans in resource_spans.get("scopeSpans") or []:
                per_trace: dict[str, list[Any]] = {}
                for span in scope_spans.get("spans") or []:
                    trace_id = normalize_trace_id(str(span.get("traceId", "")))
                    per_trace.setdefault(trace_id, []).append(span)
                    span_ids.setdefault(trace_id, set()).add(span.get("spanId"))
                    parent = span.get("parentSpanId")
                    if parent:
                        parents.setdefault(trace_id, []).append(parent)
                    counts[trace_id] = counts.get(trace_id, 0) + 1
                for trace_id, spans in per_trace.items():
                    scoped = dict(scope_spans)
                    scoped["spans"] = spans
                    split.setdefault(trace_id, []).append(scoped)
            for trace_id, scopes in split.items():
                if len(split) == 1:
                    by_trace.setdefault(trace_id, []).append(resource_spans)
                else:
                    piece = dict(resource_spans)
                    piece["scopeSpans"] = scopes
                    by_trace.setdefault(trace_id, []).append(piece)
        docs = []
        for trace_id, resources in by_trace.items():
            known = span_ids.get(trace_id, set())
            missing = sum(parent not in known for parent in parents.get(trace_id, []))
            docs.append(TraceDoc(trace_id, counts[trace_id], missing, resources))
        return docs

    @staticmethod
    def document(docs: list[TraceDoc]) -> dict[str, Any]:
        """An OTLP JSON document holding `docs` (what the importers read)."""
        return {"resourceSpans": [resource for doc in docs for resource in doc.payload]}


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


def _json(body: bytes, where: str) -> dict[str, Any]:
    try:
        payload = _decode(body)
    except msgspec.DecodeError as exc:
        raise UserError(f"{where}: the server did not answer JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise UserError(f"{where}: unexpected answer (a JSON {type(payload).__name__})")
    return payload
