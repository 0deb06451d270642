"""Send simulated spans to a collector or Jaeger over OTLP/HTTP with the OpenTelemetry SDK.

The spans are rebuilt as SDK ``ReadableSpan`` objects carrying the simulation's own ids,
explicit start/end timestamps and resource (``service.name``, ``service.instance.id``, ...), and
handed to the SDK's ``OTLPSpanExporter``: the same code path an instrumented service's batch
processor uses, so what arrives is exactly what ``--out`` writes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from tracekit.errors import UserError

KINDS = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}
STATUSES = {"OK": StatusCode.OK, "ERROR": StatusCode.ERROR}
# Attributes that instrumentations send as integers; everything else stays text.
INT_ATTRIBUTES = frozenset({"http.response.status_code"})
SCOPE = InstrumentationScope("tracekit.simulate", "0.1.0")
_EPOCH = datetime(1970, 1, 1)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def traces_endpoint(url: str) -> str:
    """``http://host:4318`` -> ``http://host:4318/v1/traces`` (a full traces URL is kept)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"--otlp: expected an http(s) URL like http://localhost:4318, got {url!r}")
    if parts.path.rstrip("/").endswith("/v1/traces"):
        return url
    return url.rstrip("/") + "/v1/traces"


def check_reachable(url: str, timeout_s: float = 3.0) -> None:
    """Fail fast (one line) when nothing listens at the URL's host and port."""
    parts = urlsplit(traces_endpoint(url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(
            f"--otlp {url}: cannot connect to {parts.hostname}:{port}: {reason}"
        ) from exc


def send_otlp(
    batches: Iterable[pa.RecordBatch | pa.Table],
    url: str,
    *,
    spans_per_request: int = 2000,
    timeout_s: float = 30.0,
) -> int:
    """Export every span in ``batches`` to ``url`` over OTLP/HTTP; returns the spans sent.

    Raises UserError (one line) when the receiver refuses or cannot be reached.
    """
    endpoint = traces_endpoint(url)
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=timeout_s)
    resources: dict[tuple[tuple[str, str], ...], Resource] = {}
    sent = 0
    try:
        with _captured_exporter_log() as messages:
            for chunk in _chunks(batches, spans_per_request):
                spans = [_readable(row, resources) for row in chunk]
                if exporter.export(spans) is not SpanExportResult.SUCCESS:
                    reason = messages[-1] if messages else "the receiver did not accept the spans"
                    raise UserError(
                        f"--otlp {endpoint}: export failed after {sent} spans: {reason}"
                    )
                sent += len(spans)
    finally:
        exporter.shutdown()
    return sent


def _chunks(batches: Iterable[pa.RecordBatch | pa.Table], size: int) -> Iterator[list[dict]]:
    for batch in batches:
        for offset in range(0, batch.num_rows, size):
            yield batch.slice(offset, size).to_pylist()


def _nanos(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICRO * 1000


_MICRO = datetime(1970, 1, 1, 0, 0, 0, 1) - _EPOCH


def _context(trace_id: str, span_id: str) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=_SAMPLED)


def _attributes(pairs: list[tuple[str, str]] | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key, value in pairs or []:
        if key in INT_ATTRIBUTES and value.lstrip("-").isdigit():
            attributes[key] = int(value)
        else:
            attributes[key] = value
    return attributes


def _readable(row: dict[str, Any], resources: dict[Any, Resource]) -> ReadableSpan:
    key = tuple(row["resource"] or [("service.name", row["service"])])
    resource = resources.get(key)
    if resource is None:
        resource = resources[key] = Resource(dict(key))
    parent = row["parent_span_id"]
    status = STATUSES.get(row["status"])
    return ReadableSpan(
        name=row["operation"],
        context=_context(row["trace_id"], row["span_id"]),
        parent=_context(row["trace_id"], parent) if parent else None,
        resource=resource,
        attributes=_attributes(row["attributes"]),
        events=[
            Event(e["name"], _attributes(e["attributes"]), timestamp=_nanos(e["time"]))
            for e in row["events"] or []
        ],
        links=[Link(_context(lk["trace_id"], lk["span_id"])) for lk in row["links"] or []],
        kind=KINDS.get(row["kind"], SpanKind.INTERNAL),
        status=Status(status, row["status_message"]) if status else Status(StatusCode.UNSET),
        start_time=_nanos(row["start_time"]),
        end_time=_nanos(row["end_time"]),
        instrumentation_scope=SCOPE,
    )


class _Collect(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split())[:300])


@contextlib.contextmanager
def _captured_exporter_log() -> Iterator[list[str]]:
    """Keep the exporter's own warnings off stderr; their text goes into our one-line error."""
    messages: list[str] = []
    loggers = [logging.getLogger(name) for name in ("opentelemetry.exporter.otlp.proto.http",)]
    handler = _Collect(messages)
    saved = [(lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
        lg.setLevel(logging.WARNING)
    try:
        yield messages
    finally:
        for lg, (propagate, level) in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.propagate = propagate
            lg.setLevel(level)
