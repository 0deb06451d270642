"""A columnar builder of span rows: flat Python lists in, one Arrow record batch out.

The OTLP importer appends spans here instead of building a dict per span; a batch is assembled
from the flat lists with offsets, which is what keeps import fast and its memory small. The
Jaeger importer builds whole batches itself and appends them with ``add_batch``.
Maps (attributes, resource, event attributes) are appended as dicts and stored sorted by key,
so the same span gives the same row whatever order its tags came in.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from tracekit.schema import EVENT, LINK, SPAN_SCHEMA, STRING_MAP

# Rows per record batch: bounded so memory stays flat however large a file is.
BATCH_ROWS = 50_000

_TIMESTAMP = pa.timestamp("us")


class SpanColumns:
    """Accumulates span rows column by column; ``take_batch`` empties it into a RecordBatch."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # batches built whole (add_batch), in order before the rows below
        self._ready: list[pa.RecordBatch] = []
        self._ready_rows = 0
        # small documents kept to be built together (defer), in order after the above
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._build: Callable[[list[Any]], pa.RecordBatch] | None = None
        self._reset_rows()

    def _reset_rows(self) -> None:
        # scalar columns as one tuple per span, transposed once per batch (zip(*rows))
        self._rows: list[tuple[Any, ...]] = []
        self._attr_offsets = [0]
        self._attr_keys: list[str] = []
        self._attr_values: list[str] = []
        self._res_offsets = [0]
        self._res_keys: list[str] = []
        self._res_values: list[str] = []
        self._link_offsets = [0]
        self._links: list[tuple[str, str, str]] = []
        self._event_offsets = [0]
        self._events: list[tuple[int, str]] = []
        self._event_attr_offsets = [0]
        self._event_keys: list[str] = []
        self._event_values: list[str] = []

    def __len__(self) -> int:
        return self._ready_rows + self._pending_rows + len(self._rows)

    def add_batch(self, batch: pa.RecordBatch) -> None:
        """Append rows already built as a RecordBatch in SPAN_SCHEMA, after the rows so far."""
        self._settle()
        self._ready.append(batch)
        self._ready_rows += batch.num_rows

    def defer(self, item: Any, rows: int, build: Callable[[list[Any]], pa.RecordBatch]) -> None:
        """Append ``rows`` rows that ``build`` makes from ``item``, built later together with the
        items deferred right after it (one call for many small documents)."""
        if self._rows or (self._pending and build is not self._build):
            self._settle()
        self._pending.append(item)
        self._pending_rows += rows
        self._build = build

    def _settle(self) -> None:
        """Build what was deferred and the rows added so far into ready batches, in order."""
        if self._pending:
            assert self._build is not None
            batch = self._build(self._pending)
            self._ready.append(batch)
            self._ready_rows += batch.num_rows
            self._pending = []
            self._pending_rows = 0
        if self._rows:
            self._ready.append(self.take_rows())

    def add(
        self,
        trace_id: str,
        span_id: str,
        parent_span_id: str | None,
        service: str | None,
        operation: str,
        kind: str,
        start_us: int,
        duration_us: int,
        status: str,
        status_message: str | None,
        attributes: dict[str, str],
        resource: tuple[list[str], list[str]],
        links: list[tuple[str, str, str]],
        events: list[tuple[int, str, dict[str, str]]],
    ) -> None:
        """Append one span. ``resource`` is (sorted keys, values), shared by a process's spans."""
        self._rows.append(
            (
                trace_id,
                span_id,
                parent_span_id,
                service,
                operation,
                kind,
                start_us,
                start_us + duration_us,
                duration_us,
                status,
                status_message,
            )
        )
        if attributes:
            keys = sorted(attributes)
            self._attr_keys += keys
            self._attr_values += map(attributes.__getitem__, keys)
        self._attr_offsets.append(len(self._attr_keys))
        self._res_keys += resource[0]
        self._res_values += resource[1]
        self._res_offsets.append(len(self._res_keys))
        if links:
            self._links += links
        self._link_offsets.append(len(self._links))
        if events:
            for time_us, name, fields in events:
                self._events.append((time_us, name))
                if fields:
                    keys = sorted(fields)
                    self._event_keys += keys
                    self._event_values += map(fields.__getitem__, keys)
                self._event_attr_offsets.append(len(self._event_keys))
        self._event_offsets.append(len(self._events))

    def take_batch(self) -> pa.RecordBatch:
        """The rows added so far as a RecordBatch in SPAN_SCHEMA; the builder starts empty again."""
        self._settle()
        batches = self._ready
        if not batches:
            batches.append(self.take_rows())
        self._reset()
        return batches[0] if len(batches) == 1 else pa.concat_batches(batches)

    def take_rows(self) -> pa.RecordBatch:
        """The rows added with ``add`` as a RecordBatch; those rows are emptied."""
        # The row tuples are tracked by the cyclic collector but hold no cycles; a collection
        # while they are alive costs as much as building the batch, so it waits.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._take_batch()
        finally:
            if collecting:
                gc.enable()

    def _take_batch(self) -> pa.RecordBatch:
        scalars = list(zip(*self._rows, strict=True)) if self._rows else [()] * 11
        types = [
            pa.string(),
            pa.string(),
            pa.string(),
            pa.string(),
            pa.string(),
            pa.string(),
            _TIMESTAMP,
            _TIMESTAMP,
            pa.int64(),
            pa.string(),
            pa.string(),
        ]
        columns = [pa.array(values, kind) for values, kind in zip(scalars, types, strict=True)]
        link_columns = list(zip(*self._links, strict=True)) if self._links else [(), (), ()]
        links = pa.ListArray.from_arrays(
            pa.array(self._link_offsets, pa.int32()),
            pa.StructArray.from_arrays(
                [pa.array(values, pa.string()) for values in link_columns], fields=list(LINK)
            ),
        )
        event_columns = list(zip(*self._events, strict=True)) if self._events else [(), ()]
        events = pa.ListArray.from_arrays(
            pa.array(self._event_offsets, pa.int32()),
            pa.StructArray.from_arrays(
                [
                    pa.array(event_columns[0], _TIMESTAMP),
                    pa.array(event_columns[1], pa.string()),
                    _map(self._event_attr_offsets, self._event_keys, self._event_values),
                ],
                fields=list(EVENT),
            ),
        )
        columns += [
            _map(self._attr_offsets, self._attr_keys, self._attr_values),
            _map(self._res_offsets, self._res_keys, self._res_values),
            links,
            events,
        ]
        self._reset_rows()
        return pa.RecordBatch.from_arrays(columns, schema=SPAN_SCHEMA)


def _map(offsets: list[int], keys: list[str], values: list[str]) -> pa.Array:
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()),
        pa.array(keys, pa.string()),
        pa.array(values, pa.string()),
        type=STRING_MAP,
    )
