"""Span batches collected in order: batches built whole, and small documents deferred to be
built together into one batch (a JSON Lines file may hold a trace per line, and building a batch
has a fixed cost of a few milliseconds).

The importers map whole batches themselves (jaeger_json.traces_batch,
otlp_batch.resource_spans_batch) and append them here; ``take_batch`` hands everything collected
so far on as one RecordBatch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from tracekit.schema import SPAN_SCHEMA

# Rows per record batch: bounded so memory stays flat however large a file is.
BATCH_ROWS = 50_000


class SpanColumns:
    """Accumulates span batches; ``take_batch`` empties it into one RecordBatch."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # batches built whole (add_batch), in order before the deferred items below
        self._ready: list[pa.RecordBatch] = []
        self._ready_rows = 0
        # small documents kept to be built together (defer), in order after the above
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._build: Callable[[list[Any]], pa.RecordBatch] | None = None

    def __len__(self) -> int:
        return self._ready_rows + self._pending_rows

    def add_batch(self, batch: pa.RecordBatch) -> None:
        """Append rows already built as a RecordBatch in SPAN_SCHEMA, after the rows so far."""
        self._settle()
        self._ready.append(batch)
        self._ready_rows += batch.num_rows

    def defer(self, item: Any, rows: int, build: Callable[[list[Any]], pa.RecordBatch]) -> None:
        """Append ``rows`` rows that ``build`` makes from ``item``, built later together with the
        items deferred right after it (one call for many small documents)."""
        if self._pending and build is not self._build:
            self._settle()
        self._pending.append(item)
        self._pending_rows += rows
        self._build = build

    def _settle(self) -> None:
        """Build what was deferred into a ready batch, in order."""
        if self._pending:
            assert self._build is not None
            batch = self._build(self._pending)
            self._ready.append(batch)
            self._ready_rows += batch.num_rows
            self._pending = []
            self._pending_rows = 0

    def take_batch(self) -> pa.RecordBatch:
        """The rows collected so far as a RecordBatch in SPAN_SCHEMA; the builder starts empty
        again."""
        self._settle()
        batches = self._ready
        self._reset()
        if not batches:
            return pa.RecordBatch.from_pylist([], schema=SPAN_SCHEMA)
        return batches[0] if len(batches) == 1 else pa.concat_batches(batches)
