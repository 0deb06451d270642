"""``message_tables``: the messages' per-trace views of one bucket (``sql/views/40_messages.sql``:
message_producers, consumer_spans, span_links, message_children, message_orphans).

The SQL stays their definition (tests/test_kernel_equivalence.py); here its joins and its two
recursive walks run as array steps over the sorted spans (``span_arrays``): a walk advances every
state of every trace at once, one level at a time, up to the SQL's 8 levels. What the semantic
conventions say of a span (its role, destination, message id, a rejecting settlement) comes from
the conventions' macros (``sql/kernel/span_facts.sql``). The SQL's joins keep their
multiplicities: a span id stored twice (older tools) joins twice, as it does there.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracekit.kernel.span_arrays import (
    CONSUMER,
    CREATE,
    PROCESS,
    RECEIVE,
    SEND,
    Columns,
    SpanArrays,
)

# the SQL's recursion bound (`WHERE depth < 8`): a walk's states go 8 levels deep at most
DEPTH = 8


def message_tables(
    column: Columns,
    a: SpanArrays,
    group: np.ndarray,
    group_end: np.ndarray,
    parent_group: np.ndarray,
    child_offsets: np.ndarray,
    children: np.ndarray,
) -> dict[str, pa.Table]:
    """The five views' rows for the spans (whole traces) and facts of ``column``; the rest is
    what ``span_arrays`` and ``trees.family`` made of them."""
    n = len(a.row)
    is_send = (a.message_role == CREATE) | (a.message_role == SEND)
    is_taker = (a.message_role == RECEIVE) | (a.message_role == PROCESS)
    children_of = (child_offsets[group], child_offsets[group + 1])

    # message_producers: walk up from each innermost send through the sends of its service
    sends = np.flatnonzero(is_send)
    owner, position = _expand(children_of[0][sends], children_of[1][sends])
    child = children[position]
    inner_send = is_send[child] & (a.service[child] == a.service[sends[owner]])
    has_send_child = np.zeros(n, np.bool_)
    has_send_child[sends[owner[inner_send]]] = True
    rows = sends[~has_send_child[sends]]
    messages = group[rows]
    seen_groups, seen_messages = [group[rows]], [messages]
    seen_depths = [np.zeros(len(rows), np.int64)]
    for depth in range(1, DEPTH + 1):
        found = parent_group[rows] >= 0
        rows, messages = rows[found], messages[found]
        above = parent_group[rows]
        owner, position = _expand(above, group_end[above])
        ok = is_send[position] & (a.service[position] == a.service[rows[owner]])
        rows, messages = _distinct(position[ok], messages[owner[ok]], n)
        if not len(rows):
            break
        seen_groups.append(group[rows])
        seen_messages.append(messages)
        seen_depths.append(np.full(len(rows), depth))
    span_group = np.concatenate(seen_groups)
    message = np.concatenate(seen_messages)
    deepest = np.full(n, -1, np.int64)
    np.maximum.at(deepest, span_group, np.concatenate(seen_depths))
    pairs_group, pairs_message = _distinct(span_group, message, n)
    distinct = np.bincount(pairs_group, minlength=n)
    only = np.full(n, -1, np.int64)
    only[pairs_group] = pairs_message
    message_of = np.where(distinct == 1, only, -1)  # per span group: its message's group
    producers = sends[deepest[group[sends]] >= 0]
    producer_message = message_of[group[producers]]
    message_producers = pa.table(
        {
            "trace_id": column.take("trace_id", producers),
            "span_id": column.take("span_id", producers),
            "parent_span_id": column.take("parent_span_id", producers),
            "service": column.take("service", producers),
            "operation": column.take("operation", producers),
            "start_time": column.take("start_time", producers),
            "end_time": column.take("end_time", producers),
            "destination": column.take("destination", producers),
            "message_id": column.take("message_id", producers),
            "status": column.take("status", producers),
            "message_span_id": column.take("span_id", producer_message),
            "depth": pa.array(deepest[group[producers]], pa.int32()),
        }
    )

    # consumer_spans: walk down from each taker through its service's spans, for failures
    takers = np.flatnonzero(is_taker)
    rows = takers[a.service[takers] >= 0]  # NULL is in no service list (the SQL's `work`)
    consumers = group[rows]
    work_failed = a.is_error | a.settles_reject  # a NULL status fails nothing (bool_or skips NULLs)
    failed_below = np.zeros(n, np.bool_)
    for _ in range(DEPTH):
        owner, position = _expand(children_of[0][rows], children_of[1][rows])
        child = children[position]
        ok = a.service[child] == a.service[rows[owner]]
        rows, consumers = _distinct(child[ok], consumers[owner[ok]], n)
        failed_below[consumers[work_failed[rows]]] = True
        if not len(rows):
            break
    # status = 'ERROR' OR conv_error_answer(...): NULL when the status is and there is no
    # error answer
    own_failed = a.is_error | a.error_answer
    own_null = a.status_null & ~own_failed
    taker_failed = own_failed.copy()
    taker_failed[takers] = own_failed[takers] | failed_below[group[takers]]
    taker_failed_null = a.status_null & ~taker_failed
    consumer_spans = pa.table(
        {
            "trace_id": column.take("trace_id", takers),
            "span_id": column.take("span_id", takers),
            "parent_span_id": column.take("parent_span_id", takers),
            "service": column.take("service", takers),
            "operation": column.take("operation", takers),
            "role": column.take("message_role", takers),
            "destination": column.take("destination", takers),
            "message_id": column.take("message_id", takers),
            "start_time": column.take("start_time", takers),
            "end_time": column.take("end_time", takers),
            "duration_us": column.take("duration_us", takers),
            "failed": _bools(taker_failed[takers], taker_failed_null[takers]),
        }
    )

    def failed(rows: np.ndarray, taker_rows: np.ndarray) -> pa.Array:
        """taker_failed: the joined consumer_spans row's `failed` where it is not NULL, else
        the span's own status or answer."""
        joined = np.maximum(taker_rows, 0)
        known = (taker_rows >= 0) & ~taker_failed_null[joined]
        value = np.where(known, taker_failed[joined], own_failed[rows])
        return _bools(value, ~known & own_null[rows])

    # span_links: a row per link of a span, joined with its consumer_spans rows
    links = column.column("links")
    lengths = pc.fill_null(pc.list_value_length(links), 0).to_numpy(zero_copy_only=False)
    linking = np.flatnonzero(lengths[a.row] > 0)
    linking, taker_rows = _with_takers(linking, group, group_end, is_taker)
    count = lengths[a.row[linking]]
    link_rows = np.repeat(linking, count)
    flat = pc.list_flatten(links.take(pa.array(a.row[linking]))).combine_chunks()
    span_links = pa.table(
        {
            "trace_id": column.take("trace_id", link_rows),
            "span_id": column.take("span_id", link_rows),
            "service": column.take("service", link_rows),
            "operation": column.take("operation", link_rows),
            "kind": column.take("kind", link_rows),
            "start_time": column.take("start_time", link_rows),
            "end_time": column.take("end_time", link_rows),
            "duration_us": column.take("duration_us", link_rows),
            "failed": failed(link_rows, np.repeat(taker_rows, count)),
            "linked_trace_id": flat.field("trace_id"),
            "linked_span_id": flat.field("span_id"),
        }
    )

    # message_children: spans that are children of a send recording one message
    message_at = np.full(n, -1, np.int64)
    message_at[producers] = producer_message
    below = np.flatnonzero(parent_group >= 0)
    owner, position = _expand(parent_group[below], group_end[parent_group[below]])
    child = below[owner]
    ok = (message_at[position] >= 0) & (
        (a.kind[child] == CONSUMER) | (a.service[child] != a.service[position])
    )
    send_rows, child_rows = position[ok], child[ok]
    child_rows, taker_rows, send_rows = _with_takers(
        child_rows, group, group_end, is_taker, send_rows
    )
    message_children = _taken_by(
        column, send_rows, message_at[send_rows], child_rows, failed(child_rows, taker_rows)
    )

    # message_orphans: per message, the orphans of its trace that started at or after its send
    sent = producers[(producer_message == group[producers]) & a.has_destination[producers]]
    orphans = np.flatnonzero(a.has_parent & (parent_group < 0) & (a.service >= 0))
    trace = np.searchsorted(a.trace_offsets, sent, side="right") - 1
    owner, position = _expand(
        np.searchsorted(orphans, a.trace_offsets[trace]),
        np.searchsorted(orphans, a.trace_offsets[trace + 1]),
    )
    orphan_rows = orphans[position]
    ok = a.start[orphan_rows] >= a.start[sent[owner]]
    sent_rows, orphan_rows = sent[owner[ok]], orphan_rows[ok]
    orphan_rows, taker_rows, sent_rows = _with_takers(
        orphan_rows, group, group_end, is_taker, sent_rows
    )
    message_orphans = _taken_by(
        column, sent_rows, sent_rows, orphan_rows, failed(orphan_rows, taker_rows)
    )
    return {
        "message_producers": message_producers,
        "consumer_spans": consumer_spans,
        "span_links": span_links,
        "message_children": message_children,
        "message_orphans": message_orphans,
    }


def _taken_by(
    column: Columns,
    sends: np.ndarray,
    messages: np.ndarray,
    takers: np.ndarray,
    failed: pa.Array,
) -> pa.Table:
    """message_children's and message_orphans' columns: the message (its trace, its span,
    the destination ``sends`` name) and the span that took it."""
    return pa.table(
        {
            "trace_id": column.take("trace_id", sends),
            "span_id": column.take("span_id", messages),
            "destination": column.take("destination", sends),
            "consumer_trace_id": column.take("trace_id", takers),
            "consumer_span_id": column.take("span_id", takers),
            "consumer_service": column.take("service", takers),
            "consumer_operation": column.take("operation", takers),
            "consumer_start": column.take("start_time", takers),
            "consumer_end": column.take("end_time", takers),
            "consumer_us": column.take("duration_us", takers),
            "consumer_failed": failed,
        }
    )


def _expand(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every position of every range [low[i], high[i]), with the i it came from."""
    counts = np.maximum(high - low, 0)
    owner = np.repeat(np.arange(len(low)), counts)
    starts = np.cumsum(counts) - counts
    return owner, low[owner] + np.arange(int(counts.sum())) - starts[owner]


def _distinct(rows: np.ndarray, other: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pairs (rows[i], other[i]) (all values in [0, n))."""
    keys = np.unique(rows.astype(np.int64) * (n + 1) + other)
    return keys // (n + 1), keys % (n + 1)


def _with_takers(
    rows: np.ndarray,
    group: np.ndarray,
    group_end: np.ndarray,
    is_taker: np.ndarray,
    *alongside: np.ndarray,
):
    """``rows`` joined (LEFT JOIN) with the consumer_spans rows of their span id: each row once
    per taker row of its span id, or once with -1; ``alongside`` arrays repeated with them."""
    first = group[rows]
    owner, position = _expand(first, group_end[first])
    hit = is_taker[position]
    matched = np.zeros(len(rows), np.bool_)
    matched[owner[hit]] = True
    lone = np.flatnonzero(~matched)
    picks = np.concatenate([owner[hit], lone])
    takers = np.concatenate([position[hit], np.full(len(lone), -1, np.int64)])
    return (rows[picks], takers, *(values[picks] for values in alongside))


def _bools(value: np.ndarray, null: np.ndarray) -> pa.Array:
    return pa.array(value, pa.bool_(), mask=null)
