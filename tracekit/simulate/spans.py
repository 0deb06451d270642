"""Collect simulated spans column by column and hand them out as Arrow record batches.

The model calls ``SpanCollector.add`` once per finished span; values go straight into per-column
Python lists (no per-span dict), and every ``batch_rows`` spans the lists become one
``pyarrow.RecordBatch`` in ``tracekit.schema.SPAN_SCHEMA``. Times are simulation seconds,
turned into UTC microseconds against the run's start when a batch is built. With a ``spill``
file the finished batches go to it (Arrow IPC) instead of memory, and ``batches`` reads them back
one at a time: a simulated day of the workshop is ~100 MB of batches, 50 days ~5 GB.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from tracekit.schema import EVENT, LINK, SPAN_SCHEMA, STRING_MAP

Attrs = tuple[tuple[str, ...], tuple[str, ...]]
Event = tuple[str, float, tuple[str, ...], tuple[str, ...]]  # name, time, keys, values


class SpanCollector:
    """Columnar span buffer; ``batches`` holds the finished Arrow batches (in memory, or in the
    ``spill`` file once ``close`` is called)."""

    def __init__(self, start_us: int, batch_rows: int = 100_000, spill: Path | None = None) -> None:
        self.start_us = start_us
        self.batch_rows = batch_rows
        self.batches: list[pa.RecordBatch] | SpilledBatches = []
        self._spill = None if spill is None else pa.ipc.new_file(str(spill), SPAN_SCHEMA)
        self._spill_path = spill
        self.resources: list[dict[str, str]] = []
        self._resource_index: dict[tuple[tuple[str, str], ...], int] = {}
        self.rows = 0
        self._reset()

    def _reset(self) -> None:
        self.trace_id: list[str] = []
        self.span_id: list[str] = []
        self.parent: list[str | None] = []
        self.service: list[str] = []
        self.operation: list[str] = []
        self.kind: list[str] = []
        self.start: list[float] = []
        self.end: list[float] = []
        self.status: list[str] = []
        self.message: list[str | None] = []
        self.attr_keys: list[str] = []
        self.attr_values: list[str] = []
        self.attr_offsets: list[int] = [0]
        self.resource: list[int] = []
        self.link_trace: list[str] = []
        self.link_span: list[str] = []
        self.link_offsets: list[int] = [0]
        self.event_time: list[float] = []
        self.event_name: list[str] = []
        self.event_keys: list[str] = []
        self.event_values: list[str] = []
        self.event_attr_offsets: list[int] = [0]
        self.event_offsets: list[int] = [0]

    def resource_id(self, attributes: dict[str, str]) -> int:
        """Register a resource (process) once; spans refer to it by index."""
        key = tuple(sorted(attributes.items()))
        if key not in self._resource_index:
            self._resource_index[key] = len(self.resources)
            self.resources.append(dict(attributes))
        return self._resource_index[key]

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
        keys: Sequence[str],
        values: Sequence[str],
        resource: int,
        link: tuple[str, str] | None = None,
        event: Event | None = None,
    ) -> None:
        """Append one finished span (times in simulation seconds)."""
        self.trace_id.append(trace_id)
        self.span_id.append(span_id)
        self.parent.append(parent)
        self.service.append(service)
        self.operation.append(operation)
        self.kind.append(kind)
        self.start.append(start)
        self.end.append(end)
        self.status.append(status)
        self.message.append(message)
        self.attr_keys.extend(keys)
        self.attr_values.extend(values)
        self.attr_offsets.append(len(self.attr_keys))
        self.resource.append(resource)
        if link is not None:
            self.link_trace.append(link[0])
            self.link_span.append(link[1])
        self.link_offsets.append(len(self.link_trace))
        if event is not None:
            self.event_name.append(event[0])
            self.event_time.append(event[1])
            self.event_keys.extend(event[2])
            self.event_values.extend(event[3])
            self.event_attr_offsets.append(len(self.event_keys))
        self.event_offsets.append(len(self.event_name))
        if len(self.span_id) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        """Turn the buffered columns into a record batch."""
        if not self.span_id:
            return
        if self._spill is not None:
            self._spill.write_batch(self._batch())
        else:
            assert isinstance(self.batches, list)
            self.batches.append(self._batch())
        self.rows += len(self.span_id)
        self._reset()

    def close(self) -> None:
        """Flush, and with a spill file, finish it and read ``batches`` from it from now on."""
        self.flush()
        if self._spill is not None and self._spill_path is not None:
            self._spill.close()
            self._spill = None
            self.batches = SpilledBatches(self._spill_path)

    def _micros(self, seconds: list[float]) -> np.ndarray:
        return np.rint(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64) + self.start_us

    def _batch(self) -> pa.RecordBatch:
        start = self._micros(self.start)
        end = self._micros(self.end)
        attributes = pa.MapArray.from_arrays(
            pa.array(self.attr_offsets, pa.int32()),
            pa.array(self.attr_keys, pa.string()),
            pa.array(self.attr_values, pa.string()),
            type=STRING_MAP,
        )
        resource_table = pa.array([list(r.items()) for r in self.resources], type=STRING_MAP)
        resource = resource_table.take(pa.array(self.resource, pa.int32()))
        n_links = len(self.link_trace)
        links = pa.ListArray.from_arrays(
            pa.array(self.link_offsets, pa.int32()),
            pa.StructArray.from_arrays(
                [
                    pa.array(self.link_trace, pa.string()),
                    pa.array(self.link_span, pa.string()),
                    pa.array(["follows_from"] * n_links, pa.string()),
                ],
                fields=list(LINK),
            ),
            type=pa.list_(LINK),
        )
        event_attrs = pa.MapArray.from_arrays(
            pa.array(self.event_attr_offsets, pa.int32()),
            pa.array(self.event_keys, pa.string()),
            pa.array(self.event_values, pa.string()),
            type=STRING_MAP,
        )
        events = pa.ListArray.from_arrays(
            pa.array(self.event_offsets, pa.int32()),
            pa.StructArray.from_arrays(
                [
                    pa.array(self._micros(self.event_time), pa.timestamp("us")),
                    pa.array(self.event_name, pa.string()),
                    event_attrs,
                ],
                fields=list(EVENT),
            ),
            type=pa.list_(EVENT),
        )
        columns = [
            pa.array(self.trace_id, pa.string()),
            pa.array(self.span_id, pa.string()),
            pa.array(self.parent, pa.string()),
            pa.array(self.service, pa.string()),
            pa.array(self.operation, pa.string()),
            pa.array(self.kind, pa.string()),
            pa.array(start, pa.timestamp("us")),
            pa.array(end, pa.timestamp("us")),
            pa.array(end - start, pa.int64()),
            pa.array(self.status, pa.string()),
            pa.array(self.message, pa.string()),
            attributes,
            resource,
            links,
            events,
        ]
        return pa.RecordBatch.from_arrays(columns, schema=SPAN_SCHEMA)


class SpilledBatches:
    """Record batches in an Arrow IPC file, read one at a time each time they are iterated."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        with pa.OSFile(str(self.path)) as handle:
            reader = pa.ipc.open_file(handle)
            for index in range(reader.num_record_batches):
                yield reader.get_batch(index)
