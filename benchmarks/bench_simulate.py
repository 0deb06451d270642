"""Simulator speed: spans per second for a simulated day of the baseline scenario.

The same SimPy model and seed run with different span sinks, so only the way spans are
recorded differs:

* ``columnar``   tracekit's SpanCollector: per-column lists -> Arrow record batches (what
                 ``tracekit simulate`` uses);
* ``row-dicts``  baseline: one Python dict per span, then ``pyarrow.Table.from_pylist``;
* ``otel-sdk``   baseline: each span created and ended through the OpenTelemetry SDK with
                 explicit timestamps, collected by its InMemorySpanExporter;
* ``no-spans``   the model alone (spans discarded), to show what recording costs.

Then ``simulate --out``'s whole fast path (simulate + write_spans to a dataset) is timed.

    .venv/bin/python benchmarks/bench_simulate.py [--hours 24] [--skip-otel]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracekit.dataset import write_spans
from tracekit.schema import SPAN_SCHEMA
from tracekit.simulate import load_scenario, simulate
from tracekit.simulate.model import Model
from tracekit.simulate.spans import SpanCollector

START = "2026-01-05T00:00:00Z"
SEED = 1


class RowDictCollector(SpanCollector):
    """Baseline: a dict per span, converted row-wise at the end."""

    def __init__(self, start_us: int) -> None:
        super().__init__(start_us)
        self.rows_: list[dict[str, Any]] = []

    def add(
        self,
        trace_id: str,
        span_id: str,
        parent: str | None,
        service: str,
        operation: str,
        kind: str,
        start: float,
        end: float,
        status: str,
        message: str | None,
        keys: Any,
        values: Any,
        resource: int,
        link: tuple[str, str] | None = None,
        event: Any = None,
    ) -> None:
        start_us = self.start_us + round(start * 1e6)
        end_us = self.start_us + round(end * 1e6)
        self.rows_.append(
            {
                "trace_id": trace_id,
                "span_id": span_id,
                "parent_span_id": parent,
                "service": service,
                "operation": operation,
                "kind": kind,
                "start_time": start_us,
                "end_time": end_us,
                "duration_us": end_us - start_us,
                "status": status,
                "status_message": message,
                "attributes": list(zip(keys, values, strict=True)),
                "resource": list(self.resources[resource].items()),
                "links": [{"trace_id": link[0], "span_id": link[1], "kind": "follows_from"}]
                if link
                else [],
                "events": [
                    {
                        "time": self.start_us + round(event[1] * 1e6),
                        "name": event[0],
                        "attributes": list(zip(event[2], event[3], strict=True)),
                    }
                ]
                if event
                else [],
            }
        )

    def flush(self) -> None:
        if self.rows_:
            self.batches.append(
                pa.Table.from_pylist(self.rows_, schema=SPAN_SCHEMA).to_batches()[0]
            )
            self.rows += len(self.rows_)
            self.rows_ = []


class OtelSdkCollector(SpanCollector):
    """Baseline: spans made through the OpenTelemetry SDK, kept by its in-memory exporter."""

    def __init__(self, start_us: int) -> None:
        super().__init__(start_us)
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from opentelemetry.trace import SpanKind

        self._Resource, self._TracerProvider = Resource, TracerProvider
        self._processor = SimpleSpanProcessor
        self.exporter = InMemorySpanExporter()
        self._tracers: dict[int, Any] = {}
        self._kinds = {
            "server": SpanKind.SERVER,
            "client": SpanKind.CLIENT,
            "producer": SpanKind.PRODUCER,
            "consumer": SpanKind.CONSUMER,
        }

    def _tracer(self, resource: int) -> Any:
        if resource not in self._tracers:
            provider = self._TracerProvider(resource=self._Resource(self.resources[resource]))
            provider.add_span_processor(self._processor(self.exporter))
            self._tracers[resource] = provider.get_tracer("bench")
        return self._tracers[resource]

    def add(
        self,
        trace_id: str,
        span_id: str,
        parent: str | None,
        service: str,
        operation: str,
        kind: str,
        start: float,
        end: float,
        status: str,
        message: str | None,
        keys: Any,
        values: Any,
        resource: int,
        link: tuple[str, str] | None = None,
        event: Any = None,
    ) -> None:
        start_ns = (self.start_us + round(start * 1e6)) * 1000
        span = self._tracer(resource).start_span(
            operation,
            kind=self._kinds[kind],
            attributes=dict(zip(keys, values, strict=True)),
            start_time=start_ns,
        )
        if event is not None:
            span.add_event(
                event[0],
                dict(zip(event[2], event[3], strict=True)),
                timestamp=(self.start_us + round(event[1] * 1e6)) * 1000,
            )
        span.end(end_time=(self.start_us + round(end * 1e6)) * 1000)
        self.rows += 1

    def flush(self) -> None:
        pass


class NullCollector(SpanCollector):
    """The model alone: spans are counted and dropped."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.rows += 1

    def flush(self) -> None:
        pass


def run_model(collector: SpanCollector, hours: float) -> tuple[int, float, float]:
    """Spans, CPU seconds and wall seconds of one model run (span batches built included)."""
    scenario = load_scenario("baseline")
    wall, cpu = time.perf_counter(), time.process_time()
    Model(scenario, hours * 3600, 1.0, SEED, 0.0, collector).run()
    return collector.rows, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--skip-otel", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per sink")
    args = parser.parse_args()
    start_us = 1_767_571_200_000_000  # 2026-01-05T00:00:00Z
    sinks: list[tuple[str, type[SpanCollector]]] = [
        ("columnar", SpanCollector),
        ("row-dicts", RowDictCollector),
        ("no-spans", NullCollector),
    ]
    if not args.skip_otel:
        sinks.insert(2, ("otel-sdk", OtelSdkCollector))
    print(f"baseline scenario, {args.hours:g} simulated hours, seed {SEED}, best of {args.repeat}")
    results = {}
    run_model(SpanCollector(start_us), 2.0)  # warm-up: imports, numpy and first-call caches
    for _ in range(args.repeat):  # interleaved, so load from other processes hits all sinks
        for name, sink in sinks:
            spans, cpu, wall = run_model(sink(start_us), args.hours)
            if name not in results or cpu < results[name][1]:
                results[name] = (spans, cpu, wall)
    # CPU time of this process: the machine is shared, and wall time mostly measures the others.
    ours = results["columnar"][1]
    print(
        f"{'sink':<10} {'spans':>9} {'cpu s':>7} {'wall s':>7} {'spans/cpu-s':>12} "
        f"{'vs columnar':>12}"
    )
    for name, (spans, cpu, wall) in results.items():
        print(
            f"{name:<10} {spans:>9} {cpu:>7.2f} {wall:>7.2f} {spans / cpu:>12.0f} "
            f"{cpu / ours:>11.2f}x"
        )
    wall, cpu = time.perf_counter(), time.process_time()
    result = simulate("baseline", duration_s=args.hours * 3600, seed=SEED, start=START)
    sim_cpu, sim_wall = time.process_time() - cpu, time.perf_counter() - wall
    with tempfile.TemporaryDirectory() as folder:
        wall = time.perf_counter()
        write_spans(Path(folder) / "ds", result.batches, source=result.source())
        # DuckDB writes on its own threads: count them through wall time, not process CPU.
        write_wall = time.perf_counter() - wall
    spans = sum(b.num_rows for b in result.batches)
    print(
        f"simulate(): {sim_cpu:.2f} cpu-s ({sim_wall:.2f} s wall) for {spans} spans, "
        f"{spans / sim_cpu:.0f} spans/cpu-s; write_spans: {write_wall:.2f} s wall"
    )


if __name__ == "__main__":
    main()
