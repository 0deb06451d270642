"""``family`` and the per-trace walks over it that need no path: self time, roots, trace
summaries, cross-service spans, telemetry loss.

Each function takes the sorted columns of ``tracekit.kernel.span_arrays`` and returns sorted row
positions (and numbers) from which ``tracekit.kernel.tables`` builds the views' rows. The
semantics are those the view SQL had (docs/analytics.md); where the SQL joins rows by span id,
a span id held by several rows (duplicates, as older tools stored them) joins each of them, as
the SQL's joins did.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# numba compiles each function on its first call and caches the machine code beside this file
# (``cache=True``), so a process pays the compilation once per installation, not per run.


@njit(cache=True)
def family(offsets, span, parent, has_parent):
    """The rows of each span id and of its parent, and each span id's children.

    ``group[i]`` is the first row holding row i's span id, ``group_end[i]`` one past the last;
    ``parent_group[i]`` is the first row holding row i's parent id in its trace (-1: no parent,
    or it never arrived); ``children[child_offsets[g]:child_offsets[g + 1]]`` are the rows whose
    parent id is the one of group g (indexed by the group's first row)."""
    n = len(span)
    group = np.empty(n, np.int64)
    group_end = np.empty(n, np.int64)
    parent_group = np.full(n, -1, np.int64)
    for t in range(len(offsets) - 1):
        lo, hi = offsets[t], offsets[t + 1]
        i = lo
        while i < hi:
            j = i + 1
            while j < hi and span[j] == span[i]:
                j += 1
            for k in range(i, j):
                group[k] = i
                group_end[k] = j
            i = j
        for i in range(lo, hi):
            if has_parent[i] and parent[i] >= 0:
                k = lo + np.searchsorted(span[lo:hi], parent[i])
                if k < hi and span[k] == parent[i]:
                    parent_group[i] = k
    counts = np.zeros(n + 1, np.int64)
    for i in range(n):
        if parent_group[i] >= 0:
            counts[parent_group[i] + 1] += 1
    child_offsets = np.cumsum(counts)
    fill = child_offsets[:-1].copy()
    children = np.empty(child_offsets[-1], np.int64)
    for i in range(n):
        g = parent_group[i]
        if g >= 0:
            children[fill[g]] = i
            fill[g] += 1
    return group, group_end, parent_group, child_offsets, children


@njit(cache=True)
def covered_time(group, group_end, child_offsets, children, start, end):
    """Per span id with children overlapping it: the union of its children's intervals, each
    clipped to the span's window (every row of the id against every child row, as the SQL's
    join of rows by id). Returns the groups' first rows and their covered microseconds."""
    n = len(group)
    out_group = np.empty(n, np.int64)
    out_covered = np.empty(n, np.int64)
    found = 0
    i = 0
    while i < n:
        g = group[i]
        ge = group_end[i]
        c0, c1 = child_offsets[g], child_offsets[g + 1]
        if c1 > c0:
            size = (ge - g) * (c1 - c0)
            lows = np.empty(size, np.int64)
            highs = np.empty(size, np.int64)
            m = 0
            for p in range(g, ge):
                for x in range(c0, c1):
                    c = children[x]
                    if end[c] > start[p] and start[c] < end[p]:
                        lows[m] = max(start[c], start[p])
                        highs[m] = min(end[c], end[p])
                        m += 1
            if m:
                order = np.argsort(highs[:m], kind="mergesort")
                order = order[np.argsort(lows[:m][order], kind="mergesort")]
                total = 0
                until = lows[order[0]]
                first = True
                island_low = 0
                island_high = 0
                for y in order:
                    if first or lows[y] > until:
                        if not first:
                            total += island_high - island_low
                        island_low = lows[y]
                        island_high = highs[y]
                        until = highs[y] if first else max(until, highs[y])
                        first = False
                    else:
                        island_low = min(island_low, lows[y])
                        island_high = max(island_high, highs[y])
                        until = max(until, highs[y])
                total += island_high - island_low
                out_group[found] = g
                out_covered[found] = total
                found += 1
        i = ge
    return out_group[:found], out_covered[:found]


@njit(cache=True)
def trace_roots(offsets, span, row, has_parent, parent_group, start):
    """Each trace's root: its earliest span without a parent, else its earliest span whose
    parent never arrived, else (a parent cycle) its earliest span; then the lowest span id."""
    traces = len(offsets) - 1
    roots = np.empty(traces, np.int64)
    for t in range(traces):
        best = -1
        for i in range(offsets[t], offsets[t + 1]):
            if best < 0 or _root_before(i, best, span, row, has_parent, parent_group, start):
                best = i
        roots[t] = best
    return roots


@njit(cache=True)
def _root_before(a, b, span, row, has_parent, parent_group, start):
    if has_parent[a] != has_parent[b]:
        return not has_parent[a]
    found_a = has_parent[a] and parent_group[a] >= 0
    found_b = has_parent[b] and parent_group[b] >= 0
    if found_a != found_b:
        return not found_a
    if start[a] != start[b]:
        return start[a] < start[b]
    if span[a] != span[b]:
        return span[a] < span[b]
    return row[a] < row[b]


@njit(cache=True)
def trace_summaries(offsets, start, end, is_error, service):
    """Per trace: first start, last end, spans, ERROR spans, and its distinct services (codes
    in name order, NULL left out) as ``service_values[service_offsets[t]:...]``."""
    traces = len(offsets) - 1
    first = np.empty(traces, np.int64)
    last = np.empty(traces, np.int64)
    spans = np.empty(traces, np.int64)
    errors = np.empty(traces, np.int64)
    service_offsets = np.zeros(traces + 1, np.int64)
    values = np.empty(len(start), np.int64)
    filled = 0
    for t in range(traces):
        lo, hi = offsets[t], offsets[t + 1]
        first[t] = start[lo:hi].min()
        last[t] = end[lo:hi].max()
        spans[t] = hi - lo
        errors[t] = is_error[lo:hi].sum()
        names = np.unique(service[lo:hi])
        for name in names:
            if name >= 0:
                values[filled] = name
                filled += 1
        service_offsets[t + 1] = filled
    return first, last, spans, errors, service_offsets, values[:filled]


@njit(cache=True)
def cross_service_pairs(group, group_end, has_parent, parent_group, service):
    """(span, caller) row pairs of every span not under a span of its own service: roots and
    orphans with caller -1, and each row of its parent's id that is in another service."""
    n = len(group)
    size = n
    spans = np.empty(size, np.int64)
    callers = np.empty(size, np.int64)
    m = 0
    for c in range(n):
        p0 = parent_group[c]
        if not has_parent[c] or p0 < 0:
            if m == size:
                size *= 2
                spans = _grow(spans, size)
                callers = _grow(callers, size)
            spans[m] = c
            callers[m] = -1
            m += 1
            continue
        for p in range(p0, group_end[p0]):
            if service[p] != service[c]:
                if m == size:
                    size *= 2
                    spans = _grow(spans, size)
                    callers = _grow(callers, size)
                spans[m] = c
                callers[m] = p
                m += 1
    return spans[:m], callers[:m]


@njit(cache=True)
def _grow(values, size):
    grown = np.empty(size, values.dtype)
    grown[: len(values)] = values
    return grown


@njit(cache=True)
def telemetry_losses(offsets, group, group_end, span, row, has_parent, parent_group, start):
    """Orphans (a parent id that never arrived) and, per trace without a root, the span standing
    in for it (the earliest orphan, else the earliest span). Returns rows, whether each is a
    stand-in (else an orphan), and whether its missing_span_id is its parent id."""
    n = len(group)
    orphan = np.zeros(n, np.bool_)
    for i in range(n):
        orphan[i] = has_parent[i] and parent_group[i] < 0
    orphan_id = np.zeros(n, np.bool_)
    for i in range(n):
        if orphan[i]:
            for k in range(group[i], group_end[i]):
                orphan_id[k] = True
    rows = np.empty(n + len(offsets), np.int64)
    standin = np.zeros(n + len(offsets), np.bool_)
    missing = np.zeros(n + len(offsets), np.bool_)
    m = 0
    for i in range(n):
        if orphan[i]:
            rows[m] = i
            missing[m] = True
            m += 1
    for t in range(len(offsets) - 1):
        lo, hi = offsets[t], offsets[t + 1]
        rooted = False
        for i in range(lo, hi):
            if not has_parent[i]:
                rooted = True
                break
        if rooted:
            continue
        best = lo
        for i in range(lo + 1, hi):
            if orphan_id[i] != orphan_id[best]:
                if orphan_id[i]:
                    best = i
                continue
            if start[i] != start[best]:
                if start[i] < start[best]:
                    best = i
                continue
            if span[i] != span[best]:
                if span[i] < span[best]:
                    best = i
                continue
            if row[i] < row[best]:
                best = i
        rows[m] = best
        standin[m] = True
        missing[m] = orphan_id[best]
        m += 1
    return rows[:m], standin[:m], missing[:m]
