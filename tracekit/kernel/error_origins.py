"""``error_origin_rows``: per trace holding an ERROR span, or failed, the span where the failure
began (the rows of ``error_origins``; docs/analytics.md "Errors").

 0. In a failed request, errors it recovered from are not its cause: an ERROR call followed by a
    later call of the same callee under the same parent that succeeded (``recovered``, from the
    calls' groups), and everything below such a span, are left out. The failed root counts as
    errored even when only its answer says so.
 1. The errored span C without errored children that lies deepest in the tree (roots and
    orphans have depth 0; spans on parent cycles, never reached from one, count as depth 0);
    when several are equally deep, the earliest-starting (then the lowest span id).
    rule deepest_error, or earliest_error when there was a tie.
 2. Timeout: if C (or a span of C's subtree that ran on until C's end, within 1% of C's
    duration) gave up on a child still running (it started before its parent ended and ends
    after it), the origin is the deepest span below C reached through such still-running spans,
    at or below an abandoned child (then the earliest, then the lowest span id). rule timeout.
    Messaging hand-offs (producer -> consumer) are asynchronous and never count.

Spans are joined by span id, as the SQL these replace joined them: a span id held by several
rows (duplicates) reaches each of them, and a path through it counts once per row. The walks
stop after ``WALK_LIMIT`` entries per span of a trace, which only duplicate ids closing a cycle
reach (the SQL never ended there).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tracekit.kernel.span_arrays import CONSUMER, PRODUCER

WALK_LIMIT = 64

# rule codes
DEEPEST, EARLIEST, TIMEOUT = 0, 1, 2


@njit(cache=True)
def error_origin_rows(
    offsets,
    roots,
    failed,
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
    duration,
    kind,
    is_error,
    recovered,
):
    """Per errored trace: the origin's first row, the errored span C's row, the rule code, the
    number of equally deep errors, whether the trace failed."""
    traces = len(offsets) - 1
    origins = np.empty(traces, np.int64)
    picks = np.empty(traces, np.int64)
    rules = np.empty(traces, np.int8)
    equally = np.empty(traces, np.int64)
    failures = np.empty(traces, np.bool_)
    found = 0
    n = len(span)
    errored = np.zeros(n, np.bool_)
    considered = np.zeros(n, np.bool_)
    for t in range(traces):
        lo, hi = offsets[t], offsets[t + 1]
        fails = failed[t]
        any_error = False
        for i in range(lo, hi):
            errored[i] = is_error[i] or (fails and span[i] == span[roots[t]])
            any_error = any_error or is_error[i]
        if not (any_error or fails):
            continue
        limit = WALK_LIMIT * (hi - lo) + 16
        # the tree from the tops (roots and orphans): (row, depth, dismissed) per path
        tree_row = np.empty(limit, np.int64)
        tree_depth = np.empty(limit, np.int64)
        tree_dismissed = np.empty(limit, np.bool_)
        m = 0
        for i in range(lo, hi):
            if not has_parent[i] or parent_group[i] < 0:
                tree_row[m] = i
                tree_depth[m] = 0
                tree_dismissed[m] = fails and recovered[i]
                m += 1
        x = 0
        while x < m and m < limit:
            g = group[tree_row[x]]
            for y in range(child_offsets[g], child_offsets[g + 1]):
                if m == limit:
                    break
                c = children[y]
                tree_row[m] = c
                tree_depth[m] = tree_depth[x] + 1
                tree_dismissed[m] = tree_dismissed[x] or (fails and recovered[c])
                m += 1
            x += 1
        # the tree's entries by span id (the group of their row)
        entry_count = np.zeros(hi - lo + 1, np.int64)
        for x in range(m):
            entry_count[group[tree_row[x]] - lo + 1] += 1
        entry_offsets = np.cumsum(entry_count)
        entry_fill = entry_offsets[:-1].copy()
        entries = np.empty(m, np.int64)
        for x in range(m):
            g = group[tree_row[x]] - lo
            entries[entry_fill[g]] = x
            entry_fill[g] += 1
        # considered: (row, entry) pairs of errored rows not dismissed (entry -1: not in tree).
        # Every row of a span id pairs with every entry of that id: with duplicate ids that is
        # more than m + rows, so the pairs are counted first.
        total = 0
        for i in range(lo, hi):
            if errored[i]:
                g = group[i] - lo
                total += max(1, entry_offsets[g + 1] - entry_offsets[g])
        pair_row = np.empty(total, np.int64)
        pair_entry = np.empty(total, np.int64)
        pairs = 0
        for i in range(lo, hi):
            considered[i] = False
            if not errored[i]:
                continue
            g = group[i] - lo
            if entry_offsets[g + 1] == entry_offsets[g]:
                pair_row[pairs] = i
                pair_entry[pairs] = -1
                pairs += 1
                considered[i] = True
                continue
            for z in range(entry_offsets[g], entry_offsets[g + 1]):
                x = entries[z]
                if fails and tree_dismissed[x]:
                    continue
                pair_row[pairs] = i
                pair_entry[pairs] = x
                pairs += 1
                considered[i] = True
        if pairs == 0:
            continue
        # an errored child: a considered row whose parent id is this row's (another id)
        errored_child = np.zeros(hi - lo, np.bool_)
        for i in range(lo, hi):
            g = group[i]
            for y in range(child_offsets[g], child_offsets[g + 1]):
                c = children[y]
                if considered[c] and span[c] != span[i]:
                    errored_child[i - lo] = True
                    break
        best = -1
        for k in range(pairs):
            if best < 0 or _picked_before(
                k, best, pair_row, pair_entry, tree_depth, errored_child, lo, start, span, row
            ):
                best = k
        picked = pair_row[best]
        depth = tree_depth[pair_entry[best]] if pair_entry[best] >= 0 else 0
        deep = 0
        for k in range(pairs):
            d = tree_depth[pair_entry[k]] if pair_entry[k] >= 0 else 0
            if d == depth and not errored_child[pair_row[k] - lo]:
                deep += 1
        origin = picked
        rule = DEEPEST
        if deep > 1 and not errored_child[picked - lo]:
            rule = EARLIEST
        if pair_entry[best] >= 0:
            abandoned = _timeout(
                picked,
                limit,
                group,
                child_offsets,
                children,
                span,
                row,
                start,
                end,
                duration,
                kind,
            )
            if abandoned >= 0:
                origin = abandoned
                rule = TIMEOUT
        origins[found] = origin
        picks[found] = picked
        rules[found] = rule
        equally[found] = deep
        failures[found] = fails
        found += 1
    return origins[:found], picks[:found], rules[:found], equally[:found], failures[:found]


@njit(cache=True)
def _picked_before(a, b, pair_row, pair_entry, tree_depth, errored_child, lo, start, span, row):
    """Without errored children first, then the deepest, earliest, lowest span id."""
    ra, rb = pair_row[a], pair_row[b]
    ca, cb = errored_child[ra - lo], errored_child[rb - lo]
    if ca != cb:
        return not ca
    da = tree_depth[pair_entry[a]] if pair_entry[a] >= 0 else 0
    db = tree_depth[pair_entry[b]] if pair_entry[b] >= 0 else 0
    if da != db:
        return da > db
    if start[ra] != start[rb]:
        return start[ra] < start[rb]
    if span[ra] != span[rb]:
        return span[ra] < span[rb]
    return ra < rb


@njit(cache=True)
def _timeout(picked, limit, group, child_offsets, children, span, row, start, end, duration, kind):
    """The deepest span below ``picked`` reached through spans still running when it gave up,
    at or below an abandoned child; -1 when none was abandoned."""
    give_up = end[picked]
    floor = give_up - duration[picked] // 100
    walk_row = np.empty(limit, np.int64)
    walk_level = np.empty(limit, np.int64)
    walk_abandoned = np.empty(limit, np.bool_)
    walk_row[0] = picked
    walk_level[0] = 0
    walk_abandoned[0] = False
    m = 1
    x = 0
    while x < m and m < limit:
        w = walk_row[x]
        if kind[w] != PRODUCER:
            g = group[w]
            for y in range(child_offsets[g], child_offsets[g + 1]):
                if m == limit:
                    break
                c = children[y]
                if start[c] < give_up and end[c] >= floor and kind[c] != CONSUMER:
                    walk_row[m] = c
                    walk_level[m] = walk_level[x] + 1
                    walk_abandoned[m] = walk_abandoned[x] or (start[c] < end[w] and end[c] > end[w])
                    m += 1
        x += 1
    best = -1
    for k in range(m):
        if not walk_abandoned[k]:
            continue
        if best < 0:
            best = k
            continue
        a, b = walk_row[k], walk_row[best]
        if walk_level[k] != walk_level[best]:
            if walk_level[k] > walk_level[best]:
                best = k
        elif start[a] != start[b]:
            if start[a] < start[b]:
                best = k
        elif span[a] != span[b]:
            if span[a] < span[b]:
                best = k
        elif row[a] < row[b]:
            best = k
    return walk_row[best] if best >= 0 else -1
