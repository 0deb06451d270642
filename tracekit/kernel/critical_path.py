"""``critical_path_segments``: every trace's critical path, walked from its root.

Semantics (CRISP's; docs/analytics.md "Critical path"): walk back from the end of a span through
its last-finishing child, then through the last-finishing child that ends at or before that
child's start, and so on; what no critical child covers is the span's own time. Children are
clipped to their parent's window (dropped when entirely outside or zero-length there).
Consumers of a producer and spans linking to their parent (FOLLOWS_FROM) do not block it and are
not children here. Two siblings that overlap by less than 1% of the parent's duration, with no
other sibling starting or ending in the overlap (exactly two events in it: no other event at
either instant), count as sequential when they were timed by different clocks (clock skew): the
earlier one keeps its whole duration and the overlap is taken from the parent's own time, by
shifting the earlier sibling (and its subtree) back in the output (``clock_shift_us``).
Segments are finally cut to the windows of all their ancestors, so the tiling stays exact when
children overflow their parents. Children ending together: the earliest start is taken first
(then the earliest and longest before clipping, then the smaller DuckDB hash of the ids, so
reruns agree). Duplicate span ids are first reduced to one row per id (the longest, then the
earliest, then the smaller hash of the parent id, then the first row). The root is the
earliest span without a parent, else the earliest whose parent never arrived (then the lowest
span id); a trace whose spans all sit on parent cycles has no path.

Each span has one parent, so a walk from a root never meets a span twice.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tracekit.kernel.span_arrays import CONSUMER, PRODUCER


@njit(cache=True)
def critical_path_segments(
    offsets,
    group,
    group_end,
    parent_group,
    child_offsets,
    children,
    span,
    row,
    has_parent,
    start,
    end,
    kind,
    links_parent,
    span_hash,
    parent_hash,
    clock,
):
    """The segments (owner row, start, end, clock shift) of every trace's critical path."""
    n = len(span)
    kept = np.empty(n, np.int64)
    i = 0
    while i < n:
        best = i
        for k in range(i + 1, group_end[i]):
            if _longer(k, best, row, has_parent, start, end, parent_hash):
                best = k
        for k in range(i, group_end[i]):
            kept[k] = best
        i = group_end[i]

    # children of each kept span among the kept rows, clipped to its window
    clip_start = start.copy()
    clip_end = end.copy()
    first_child = np.full(n, -1, np.int64)
    next_child = np.full(n, -1, np.int64)
    overlap = np.zeros(n, np.int64)
    family = np.empty(n, np.int64)
    events = np.empty(2 * n, np.int64)
    scratch = np.empty(2 * n, np.int64)
    for p in range(n):
        if kept[p] != p:
            continue
        g = group[p]
        m = 0
        for x in range(child_offsets[g], child_offsets[g + 1]):
            c = children[x]
            if kept[c] != c or c == p or links_parent[c]:
                continue
            if kind[c] == CONSUMER and kind[p] == PRODUCER:
                continue
            low = max(start[c], start[p])
            high = min(end[c], end[p])
            if high <= low:
                continue
            clip_start[c] = low
            clip_end[c] = high
            family[m] = c
            m += 1
        if m == 0:
            continue
        if m == 1:
            first_child[p] = family[0]
            continue
        _link_siblings(
            family[:m],
            events,
            scratch,
            clip_start,
            clip_end,
            start,
            end,
            span_hash,
            clock,
            end[p] - start[p],
            first_child,
            next_child,
            overlap,
            p,
        )

    size = n + 16
    owners = np.empty(size, np.int64)
    seg_start = np.empty(size, np.int64)
    seg_end = np.empty(size, np.int64)
    shifts = np.empty(size, np.int64)
    m = 0
    stack_node = np.empty(n, np.int64)
    stack_shift = np.empty(n, np.int64)
    stack_lo = np.empty(n, np.int64)
    stack_hi = np.empty(n, np.int64)
    for t in range(len(offsets) - 1):
        root = -1
        for r in range(offsets[t], offsets[t + 1]):
            if kept[r] != r or parent_group[r] >= 0:
                continue
            if root < 0 or _root_before(r, root, span, has_parent, start):
                root = r
        if root < 0:
            continue
        top = 0
        stack_node[0] = root
        stack_shift[0] = 0
        stack_lo[0] = start[root]
        stack_hi[0] = end[root]
        top = 1
        while top:
            top -= 1
            node = stack_node[top]
            shift = stack_shift[top]
            lo = stack_lo[top]
            hi = stack_hi[top]
            bottom = end[node] - shift
            gap_top = end[node] - shift
            c = first_child[node]
            c_shift = shift
            while c >= 0:
                if clip_end[c] - c_shift <= lo:
                    break
                # the node's own time above this child, cut to the node's [lo, hi]
                if m + 2 > size:
                    size *= 2
                    owners = _grow(owners, size)
                    seg_start = _grow(seg_start, size)
                    seg_end = _grow(seg_end, size)
                    shifts = _grow(shifts, size)
                gap_lo = max(clip_end[c] - c_shift, lo)
                gap_hi = min(gap_top, hi)
                if gap_hi > gap_lo:
                    owners[m] = node
                    seg_start[m] = gap_lo
                    seg_end[m] = gap_hi
                    shifts[m] = shift
                    m += 1
                bottom = min(bottom, clip_start[c] - c_shift)
                stack_node[top] = c
                stack_shift[top] = c_shift
                stack_lo[top] = max(clip_start[c] - c_shift, lo)
                stack_hi[top] = min(clip_end[c] - c_shift, hi)
                top += 1
                gap_top = clip_start[c] - c_shift
                c_shift += overlap[c]
                c = next_child[c]
            low = max(start[node] - shift, lo)
            high = min(bottom, hi)
            if high > low:
                if m + 1 > size:
                    size *= 2
                    owners = _grow(owners, size)
                    seg_start = _grow(seg_start, size)
                    seg_end = _grow(seg_end, size)
                    shifts = _grow(shifts, size)
                owners[m] = node
                seg_start[m] = low
                seg_end[m] = high
                shifts[m] = shift
                m += 1
    return owners[:m], seg_start[:m], seg_end[:m], shifts[:m]


@njit(cache=True)
def _longer(a, b, row, has_parent, start, end, parent_hash):
    """Whether row a is kept before row b of the same span id."""
    if end[a] - start[a] != end[b] - start[b]:
        return end[a] - start[a] > end[b] - start[b]
    if start[a] != start[b]:
        return start[a] < start[b]
    if has_parent[a] != has_parent[b]:
        return not has_parent[a]  # NULLS FIRST
    if parent_hash[a] != parent_hash[b]:
        return parent_hash[a] < parent_hash[b]
    return row[a] < row[b]


@njit(cache=True)
def _root_before(a, b, span, has_parent, start):
    if has_parent[a] != has_parent[b]:
        return not has_parent[a]
    if start[a] != start[b]:
        return start[a] < start[b]
    return span[a] < span[b]


@njit(cache=True)
def _event_before(a, b, family, clip_start, clip_end, start, end, span_hash):
    """Event order within a parent: by time (2t for an end, 2t + 1 for a start, so ends come
    first at one instant), then the preferred child last: later clipped start, later start,
    earlier end, larger hash."""
    ca = family[a >> 1]
    cb = family[b >> 1]
    ta = 2 * clip_start[ca] + 1 if a & 1 else 2 * clip_end[ca]
    tb = 2 * clip_start[cb] + 1 if b & 1 else 2 * clip_end[cb]
    if ta != tb:
        return ta < tb
    if clip_start[ca] != clip_start[cb]:
        return clip_start[ca] > clip_start[cb]
    if start[ca] != start[cb]:
        return start[ca] > start[cb]
    if end[ca] != end[cb]:
        return end[ca] < end[cb]
    return span_hash[ca] > span_hash[cb]


@njit(cache=True)
def _link_siblings(
    family,
    events,
    scratch,
    clip_start,
    clip_end,
    start,
    end,
    span_hash,
    clock,
    parent_us,
    first_child,
    next_child,
    overlap,
    parent,
):
    """A parent's first child (the end event last in order) and each child's next one: the
    child of the last end event before its start, or with clock skew the sibling whose end is
    the very next event (see the module docstring)."""
    m = len(family)
    count = 2 * m
    # event e: child e >> 1, a start when e & 1
    for e in range(count):
        events[e] = e
    width = 1
    source = events
    target = scratch
    while width < count:
        for lo in range(0, count, 2 * width):
            mid = min(lo + width, count)
            hi = min(lo + 2 * width, count)
            a, b, out = lo, mid, lo
            while a < mid and b < hi:
                if _event_before(
                    source[b], source[a], family, clip_start, clip_end, start, end, span_hash
                ):
                    target[out] = source[b]
                    b += 1
                else:
                    target[out] = source[a]
                    a += 1
                out += 1
            while a < mid:
                target[out] = source[a]
                a += 1
                out += 1
            while b < hi:
                target[out] = source[b]
                b += 1
                out += 1
        source, target = target, source
        width *= 2
    first_child[parent] = family[source[count - 1] >> 1]
    plain = -1
    for j in range(count):
        e = source[j]
        child = family[e >> 1]
        if not e & 1:
            plain = child
            continue
        cs = clip_start[child]
        skew = False
        if j + 1 < count:
            following = source[j + 1]
            sibling = family[following >> 1]
            at = clip_end[sibling]
            skew = (
                not following & 1
                and at > cs
                and clip_start[sibling] < cs
                and (j == 0 or _event_time(source[j - 1], family, clip_start, clip_end) != cs)
                and (
                    j + 2 >= count or _event_time(source[j + 2], family, clip_start, clip_end) != at
                )
                and (at - cs) * 100 < parent_us
                and clock[sibling] != clock[child]
            )
            if skew:
                next_child[child] = sibling
                overlap[child] = at - cs
        if not skew and plain >= 0:
            next_child[child] = plain


@njit(cache=True)
def _event_time(e, family, clip_start, clip_end):
    child = family[e >> 1]
    return clip_start[child] if e & 1 else clip_end[child]


@njit(cache=True)
def _grow(values, size):
    grown = np.empty(size, values.dtype)
    grown[: len(values)] = values
    return grown
