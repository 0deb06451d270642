"""OpenTelemetry set-up shared by the pipeline's instrumented services (mes-api, mes, crm).

Standard SDK pieces only, configured by the standard environment variables the runner sets
(`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_BSP_SCHEDULE_DELAY`): a
BatchSpanProcessor with the OTLP/HTTP exporter, as a user would set it up. Two additions for the
test: the number of spans exported is written to `PIPELINE_STATS` at exit (so the runner knows
when Jaeger holds everything), and spans whose id was put in `LOSE` are never exported, which is
how the runner makes crm's telemetry go missing for chosen messages (an exporter dropping spans
under pressure looks the same from Jaeger's side).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

LOSE: set[int] = set()  # span ids whose spans are dropped before export


class _CountingExporter(SpanExporter):
    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class _LosingProcessor(SpanProcessor):
    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.lost = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.span_id in LOSE:
            self.lost += 1
            return
        self.inner.on_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def setup() -> trace.Tracer:
    """Install the tracer provider; returns a tracer for the service's own spans."""
    exporter = _CountingExporter(OTLPSpanExporter())
    processor = _LosingProcessor(BatchSpanProcessor(exporter))
    provider = TracerProvider(resource=Resource.create(), shutdown_on_exit=False)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)

    def finish() -> None:
        provider.shutdown()  # flushes what is still queued
        stats = os.environ.get("PIPELINE_STATS")
        if stats:
            with open(stats, "w") as out:
                json.dump({"exported": exporter.exported, "lost": processor.lost}, out)

    atexit.register(finish)
    # The runner stops services with SIGTERM: exit normally so the spans are flushed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return trace.get_tracer("tracekit.pipeline")
