"""Export progress kept in the dataset manifest, committed together with the spans it describes.

``manifest.export[KEY]`` (an ``ExportSource``) records, per Jaeger URL and service selection,
the time intervals whose spans are stored (closed microsecond intervals, merged). A chunk's
interval is added in the same atomic manifest write that commits its spans, so an interrupted
export keeps exactly the finished chunks, and a rerun asks Jaeger only for what is missing.

Recent data is not final: spans still arrive for traces that started a moment ago. So a chunk
counts as done only up to ``exported_at - overlap``; the next run fetches the tail again and
the dataset's (trace_id, span_id) dedup keeps whatever it already has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tracekit.dataset import Manifest
from tracekit.export.window import Interval, format_us, merge, now_us


def source_key(display_url: str, services: Sequence[str]) -> str:
    """The key of one export source: the safe URL plus the service selection.

    >>> source_key("http://jaeger:16686", ["b", "a"])
    'http://jaeger:16686 services=a,b'
    """
    selection = ",".join(sorted(services)) if services else "*"
    return f"{display_url} services={selection}"


def done_intervals(manifest: Manifest, key: str) -> list[Interval]:
    """The intervals already exported for `key`."""
    entry = manifest.export.get(key)
    return [] if entry is None else list(entry.done_us)


def settled(interval: Interval, overlap_us: int, now: int | None = None) -> Interval | None:
    """The part of `interval` old enough to count as final (None when nothing is)."""
    limit = (now_us() if now is None else now) - overlap_us
    start, end = interval
    end = min(end, limit)
    return (start, end) if end >= start else None


def mark_done(
    key: str, interval: Interval | None, summary: Mapping[str, int]
) -> Callable[[Manifest], None]:
    """A manifest_update for write_spans: add `interval` to `key`'s done set, record counts."""

    def update(manifest: Manifest) -> None:
        entry = manifest.export_source(key)
        done = list(entry.done_us)
        if interval is not None:
            done.append(interval)
        entry.done_us = merge(done)
        entry.done = [[format_us(start), format_us(end)] for start, end in entry.done_us]
        entry.totals.update(summary)
        entry.last_chunk = None if interval is None else [format_us(v) for v in interval]

    return update
