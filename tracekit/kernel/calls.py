"""``span_calls``, ``call_runs`` and ``call_patterns``: every span with a parent seen as a call,
and the per-trace grouping of calls behind N+1 (docs/analytics.md "N+1").

What a call calls (callee, callee_operation): the server span under the call where one exists
(the longest, then the lowest span id), else where the call went as the caller names it
(``conv_peer_endpoint``: peer.service, else server address:port) with the span's own operation,
else the span's own service and operation. Who called (caller, caller_operation): the first
non-NULL service and operation among the rows of the parent id.

Calls are grouped per trace by (parent id, callee, callee_operation) and sorted by start, end
and span id; a call continues the run when it starts at or after every earlier call of the group
ended, one that overlaps an earlier call starts a new run. A run of at least 5 calls is back to
back when its median gap (a call's start minus the previous end, over the calls after the run's
first start) is at most 10% of its median call, or 100 us. A call pattern per trace (caller,
caller_operation, callee, callee_operation) keeps the most calls one parent made and whether any
overlapped; kept when 5 or more, or concurrent.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tracekit.kernel.span_arrays import SERVER

# Back to back: median gap at most this share of the median call, or at most GAP_FLOOR_US.
RUN_CALLS = 5
GAP_SHARE = 10
GAP_FLOOR_US = 100.0


@njit(cache=True)
def span_calls(
    group,
    group_end,
    parent_group,
    child_offsets,
    children,
    span,
    row,
    has_parent,
    duration,
    kind,
    service,
    operation,
    peer_endpoint,
):
    """The rows with a parent id, with caller, caller_operation, callee, callee_operation."""
    n = len(group)
    calls = np.empty(n, np.int64)
    caller = np.empty(n, np.int64)
    caller_operation = np.empty(n, np.int64)
    callee = np.empty(n, np.int64)
    callee_operation = np.empty(n, np.int64)
    m = 0
    for c in range(n):
        if not has_parent[c]:
            continue
        g = group[c]
        server = -1
        for x in range(child_offsets[g], child_offsets[g + 1]):
            v = children[x]
            if kind[v] != SERVER:
                continue
            if (
                server < 0
                or duration[v] > duration[server]
                or (duration[v] == duration[server] and span[v] < span[server])
                or (
                    duration[v] == duration[server]
                    and span[v] == span[server]
                    and row[v] < row[server]
                )
            ):
                server = v
        name = -1
        operation_name = -1
        p = parent_group[c]
        if p >= 0:
            for k in range(p, group_end[p]):
                if name < 0 and service[k] >= 0:
                    name = service[k]
                if operation_name < 0 and operation[k] >= 0:
                    operation_name = operation[k]
        calls[m] = c
        caller[m] = name
        caller_operation[m] = operation_name
        target = -1
        if server >= 0:
            target = service[server]
        if target < 0:
            target = peer_endpoint[c]
        if target < 0:
            target = service[c]
        callee[m] = target
        target_operation = operation[server] if server >= 0 else -1
        callee_operation[m] = target_operation if target_operation >= 0 else operation[c]
        m += 1
    return calls[:m], caller[:m], caller_operation[:m], callee[:m], callee_operation[:m]


@njit(cache=True)
def call_groups(calls, order, trace, parent, callee, callee_operation, start, end):
    """Walk the calls in ``order`` (sorted by trace, parent id, callee, callee_operation, start,
    end, span id): per group its bounds in ``order``, and per call its earlier calls' latest
    end (-1 flag in ``has_earlier`` when it is the group's first)."""
    m = len(order)
    bounds = np.empty(m + 1, np.int64)
    earlier = np.zeros(m, np.int64)
    has_earlier = np.zeros(m, np.bool_)
    groups = 0
    latest = 0
    for j in range(m):
        i = order[j]
        c = calls[i]
        if j == 0 or not _same_group(
            order[j - 1], i, calls, trace, parent, callee, callee_operation
        ):
            bounds[groups] = j
            groups += 1
            latest = end[c]
            continue
        earlier[j] = latest
        has_earlier[j] = True
        latest = max(latest, end[c])
    bounds[groups] = m
    return bounds[: groups + 1], earlier, has_earlier


@njit(cache=True)
def _same_group(a, b, calls, trace, parent, callee, callee_operation):
    return (
        trace[calls[a]] == trace[calls[b]]
        and parent[calls[a]] == parent[calls[b]]
        and callee[a] == callee[b]
        and callee_operation[a] == callee_operation[b]
    )


@njit(cache=True)
def call_runs(calls, order, bounds, earlier, has_earlier, start, end, duration):
    """The back-to-back runs: per run its first position in ``order``, calls, wall time, summed
    time, median gap and first start."""
    m = len(order)
    first = np.empty(m, np.int64)
    counts = np.empty(m, np.int64)
    wall = np.empty(m, np.int64)
    total = np.empty(m, np.int64)
    median_gap = np.empty(m, np.float64)
    run_start = np.empty(m, np.int64)
    found = 0
    for g in range(len(bounds) - 1):
        lo, hi = bounds[g], bounds[g + 1]
        if hi - lo < RUN_CALLS:
            continue
        j = lo
        while j < hi:
            k = j + 1
            while k < hi and not (start[calls[order[k]]] < earlier[k]):
                k += 1
            # calls j..k-1 form a run
            if k - j >= RUN_CALLS:
                begin = start[calls[order[j]]]
                gaps = np.empty(k - j, np.float64)
                durations = np.empty(k - j, np.float64)
                gap_count = 0
                latest = end[calls[order[j]]]
                summed = 0
                for x in range(j, k):
                    c = calls[order[x]]
                    latest = max(latest, end[c])
                    summed += duration[c]
                    durations[x - j] = duration[c]
                    if has_earlier[x] and start[c] > begin and start[c] - earlier[x] >= 0:
                        gaps[gap_count] = start[c] - earlier[x]
                        gap_count += 1
                if gap_count:
                    gap = _median(gaps[:gap_count])
                    if gap <= max(GAP_FLOOR_US, _median(durations) / GAP_SHARE):
                        first[found] = j
                        counts[found] = k - j
                        wall[found] = latest - begin
                        total[found] = summed
                        median_gap[found] = gap
                        run_start[found] = begin
                        found += 1
            j = k
    return (
        first[:found],
        counts[:found],
        wall[:found],
        total[:found],
        median_gap[:found],
        run_start[:found],
    )


@njit(cache=True)
def _median(values):
    """DuckDB's quantile_cont(x, 0.5): the middle value, or the two middle ones interpolated."""
    ordered = np.sort(values)
    n = len(ordered)
    position = (n - 1) * 0.5
    low = int(np.floor(position))
    high = int(np.ceil(position))
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@njit(cache=True)
def group_concurrency(calls, order, bounds, earlier, has_earlier, start):
    """Per group: calls, and whether a call started before an earlier one ended (-1: a single
    call, which tells nothing, as SQL's bool_or of NULL)."""
    groups = len(bounds) - 1
    counts = np.empty(groups, np.int64)
    concurrent = np.empty(groups, np.int8)
    for g in range(groups):
        lo, hi = bounds[g], bounds[g + 1]
        counts[g] = hi - lo
        state = -1
        for x in range(lo, hi):
            if has_earlier[x]:
                overlapping = start[calls[order[x]]] < earlier[x]
                if overlapping:
                    state = 1
                elif state < 0:
                    state = 0
        concurrent[g] = state
    return counts, concurrent


@njit(cache=True)
def patterns(
    keys_order, trace, caller, caller_operation, callee, callee_operation, counts, concurrent
):
    """Groups of the same (trace, caller, caller_operation, callee, callee_operation), in
    ``keys_order``: the first group of each, its most calls and whether any was concurrent;
    only those with 5 or more calls or concurrent."""
    m = len(keys_order)
    first = np.empty(m, np.int64)
    most = np.empty(m, np.int64)
    overlapped = np.empty(m, np.bool_)
    found = 0
    j = 0
    while j < m:
        a = keys_order[j]
        k = j
        best = 0
        state = -1
        while k < m:
            b = keys_order[k]
            if not (
                trace[a] == trace[b]
                and caller[a] == caller[b]
                and caller_operation[a] == caller_operation[b]
                and callee[a] == callee[b]
                and callee_operation[a] == callee_operation[b]
            ):
                break
            best = max(best, counts[b])
            if concurrent[b] == 1:
                state = 1
            elif concurrent[b] == 0 and state < 0:
                state = 0
            k += 1
        if best >= RUN_CALLS or state == 1:
            first[found] = a
            most[found] = best
            overlapped[found] = state == 1
            found += 1
        j = k
    return first[:found], most[:found], overlapped[:found]
