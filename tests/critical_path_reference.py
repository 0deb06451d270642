"""A plain recursive critical-path walk, written apart from the SQL as the tests' reference.

Per span: walk back from its end through the last-finishing child, then the last-finishing child
that ends at or before that child's start, and so on; the time no such child covers is the
span's own. Children are clipped to their parent's window; consumers of a producer and spans
linking to their parent (FOLLOWS_FROM) are not waited for. Every segment is cut to the windows of
all its ancestors. Ties (children ending together): the earliest start, then the earliest and
longest before clipping, then the span id. There is no clock-skew rule: this is the walk the SQL
must equal wherever no two siblings come from different clocks.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

import duckdb


@dataclasses.dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    kind: str
    start: int  # epoch microseconds
    end: int
    links: tuple[str, ...] = ()  # span ids this span links to


Segment = tuple[str, int, int]  # (span_id, start, end)


def spans_of(con: duckdb.DuckDBPyConnection) -> dict[str, list[Span]]:
    """Every stored span, by trace."""
    out: dict[str, list[Span]] = defaultdict(list)
    rows = con.execute(
        "SELECT trace_id, span_id, parent_span_id, coalesce(kind, ''), epoch_us(start_time), "
        "epoch_us(end_time), coalesce(list_transform(links, lambda l: l.span_id), []) "
        "FROM span_rows"
    ).fetchall()
    for trace, span, parent, kind, start, end, links in rows:
        out[trace].append(Span(trace, span, parent, kind, start, end, tuple(links)))
    return out


def walk(spans: Iterable[Span]) -> list[Segment]:
    """The critical path of one trace (no duplicate span ids) from its root, in time order."""
    by_id = {span.span_id: span for span in spans}
    children: dict[str, list[Span]] = defaultdict(list)
    for span in by_id.values():
        parent = by_id.get(span.parent_span_id) if span.parent_span_id else None
        if parent is None or parent.span_id == span.span_id:
            continue
        if parent.span_id in span.links or (span.kind == "consumer" and parent.kind == "producer"):
            continue
        children[parent.span_id].append(span)
    roots = [s for s in by_id.values() if s.parent_span_id is None or s.parent_span_id not in by_id]
    if not roots:
        return []
    root = min(roots, key=lambda s: (s.parent_span_id is not None, s.start, s.span_id))
    segments: list[Segment] = []
    _walk(root, root.start, root.end, children, segments)
    return sorted(segments, key=lambda segment: segment[1])


def _walk(
    span: Span, low: int, high: int, children: dict[str, list[Span]], out: list[Segment]
) -> None:
    clipped = []
    for child in children.get(span.span_id, ()):
        start, end = max(child.start, span.start), min(child.end, span.end)
        if end > start:
            clipped.append((start, end, child))
    clipped.sort(key=lambda c: (-c[1], c[0], c[2].start, -c[2].end, c[2].span_id))
    top = span.end
    for start, end, child in clipped:
        if end > top:
            continue  # not finished before the critical child after it started
        if end <= low:
            break  # this and every earlier child lie before the part that counts
        _emit(out, span, end, top, low, high)
        _walk(child, max(start, low), min(end, high), children, out)
        top = start
    _emit(out, span, span.start, top, low, high)


def _emit(out: list[Segment], span: Span, start: int, end: int, low: int, high: int) -> None:
    start, end = max(start, low), min(end, high)
    if end > start:
        out.append((span.span_id, start, end))


def segments_outside(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, int]]:
    """Critical-path segments lying outside their own span's recorded [start, end]: (trace,
    span, start, end) in recorded time (a segment moved back by clock_shift_us is moved forward
    again first). With duplicate rows of a span id, inside any of them counts."""
    return con.execute(
        """
        SELECT c.trace_id, c.span_id, epoch_us(c.start_time) + c.clock_shift_us AS s,
               epoch_us(c.end_time) + c.clock_shift_us AS e
        FROM critical_path AS c
        WHERE NOT EXISTS (
            SELECT 1 FROM span_rows AS r
            WHERE r.trace_id = c.trace_id AND r.span_id = c.span_id
              AND epoch_us(r.start_time) <= epoch_us(c.start_time) + c.clock_shift_us
              AND epoch_us(c.end_time) + c.clock_shift_us <= epoch_us(r.end_time)
        )
        ORDER BY ALL
        """
    ).fetchall()
