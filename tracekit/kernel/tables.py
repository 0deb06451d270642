"""``kernel_tables``: the per-trace views' rows of one bucket, as Arrow tables.

The walks (``trees``, ``critical_path``, ``calls``, ``charges``) return sorted row positions
and numbers; here they become the views' columns, with the types DuckDB gave the SQL views, so a
stored table reads as the SQL's rows did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracekit.kernel import calls as call_walks
from tracekit.kernel.charges import charges
from tracekit.kernel.critical_path import critical_path_segments
from tracekit.kernel.error_origins import EARLIEST, TIMEOUT, error_origin_rows
from tracekit.kernel.messages import message_tables
from tracekit.kernel.span_arrays import Columns, SpanArrays, span_arrays
from tracekit.kernel.trees import (
    covered_time,
    cross_service_pairs,
    family,
    telemetry_losses,
    trace_roots,
    trace_summaries,
)

TIME = pa.timestamp("us")


@dataclass(frozen=True)
class KernelResults:
    """Each input row's self time (input order) and one table per view the kernel computes."""

    self_us: pa.Array
    tables: dict[str, pa.Table]


def kernel_tables(
    spans: pa.Table, facts: pa.Table, error_facts: Callable[[pa.Table], pa.Table]
) -> KernelResults:
    """The per-trace views of ``spans`` (whole traces, span schema); ``facts`` are the rows of
    ``sql/kernel/span_facts.sql`` for them; ``error_facts(rows)`` answers http_status,
    exception_type and error_message (``span_errors``) for the spans where errors began."""
    a = span_arrays(spans, facts)
    group, group_end, parent_group, child_offsets, children = family(
        a.trace_offsets, a.span, a.parent, a.has_parent
    )
    build = Columns(spans, a, facts)
    tables: dict[str, pa.Table] = {}

    covered_group, covered = covered_time(group, group_end, child_offsets, children, a.start, a.end)
    tables["span_self_time"] = pa.table(
        {
            "trace_id": build.take("trace_id", covered_group),
            "span_id": build.take("span_id", covered_group),
            "covered_us": pa.array(covered, pa.int64()),
        }
    )
    covered_of_group = np.zeros(len(group), np.int64)
    covered_of_group[covered_group] = covered
    self_sorted = a.duration - covered_of_group[group]
    self_us = np.empty(len(group), np.int64)
    self_us[a.row] = self_sorted

    roots = trace_roots(a.trace_offsets, a.span, a.row, a.has_parent, parent_group, a.start)
    failed = a.is_error[roots] | a.error_answer[roots]
    is_root = ~a.has_parent[roots]
    tables["trace_roots"] = pa.table(
        {
            "trace_id": build.take("trace_id", roots),
            "span_id": build.take("span_id", roots),
            "service": build.take("service", roots),
            "operation": build.take("operation", roots),
            "is_root": pa.array(is_root),
            "failed": pa.array(failed),
        }
    )
    first, last, counts, errors, service_offsets, service_values = trace_summaries(
        a.trace_offsets, a.start, a.end, a.is_error, a.service
    )
    tables["traces"] = pa.table(
        {
            "trace_id": build.take("trace_id", roots),
            "root_service": build.take("service", roots),
            "root_operation": build.take("operation", roots),
            "start_time": pa.array(first, TIME),
            "end_time": pa.array(last, TIME),
            "duration_us": pa.array(last - first, pa.int64()),
            "span_count": pa.array(counts, pa.int64()),
            "error_count": pa.array(errors, pa.int64()),
            "services": pa.ListArray.from_arrays(
                pa.array(service_offsets.astype(np.int32)),
                build.names(service_values),
                type=pa.list_(pa.field("l", pa.string())),
            ),
            "has_root": pa.array(is_root),
            "failed": pa.array(failed),
        }
    )

    spans_of, callers = cross_service_pairs(group, group_end, a.has_parent, parent_group, a.service)
    found = callers >= 0
    tables["cross_service_spans"] = pa.table(
        {
            "trace_id": build.take("trace_id", spans_of),
            "span_id": build.take("span_id", spans_of),
            "parent_span_id": build.take("parent_span_id", spans_of),
            "service": build.take("service", spans_of),
            "operation": build.take("operation", spans_of),
            "kind": build.take("kind", spans_of),
            "start_time": build.take("start_time", spans_of),
            "duration_us": build.take("duration_us", spans_of),
            "status": build.take("status", spans_of),
            "is_error": pa.array(a.is_error[spans_of]),
            "parent_found": pa.array(found),
            "caller_service": build.take("service", callers),
            "caller_kind": build.take("kind", callers),
            "caller_duration_us": build.take("duration_us", callers),
        }
    )

    owners, seg_start, seg_end, shifts = critical_path_segments(
        a.trace_offsets,
        group,
        group_end,
        parent_group,
        child_offsets,
        children,
        a.span,
        a.row,
        a.has_parent,
        a.start,
        a.end,
        a.kind,
        a.links_parent,
        a.span_hash,
        a.parent_hash,
        a.clock,
    )
    tables["critical_path"] = pa.table(
        {
            "trace_id": build.take("trace_id", owners),
            "span_id": build.take("span_id", owners),
            "service": build.take("service", owners),
            "operation": build.take("operation", owners),
            "kind": build.take("kind", owners),
            "start_time": pa.array(seg_start, TIME),
            "end_time": pa.array(seg_end, TIME),
            "duration_us": pa.array(seg_end - seg_start, pa.int64()),
            "clock_shift_us": pa.array(shifts, pa.int64()),
        }
    )
    segment, callee, callee_operation, named = charges(
        owners,
        group,
        group_end,
        child_offsets,
        children,
        a.row,
        a.kind,
        a.service,
        a.operation,
        a.duration,
        a.peer,
    )
    charged = owners[segment]
    own_service = a.service[charged]
    has_callee = callee >= 0
    tables["critical_path_charges"] = pa.table(
        {
            "trace_id": build.take("trace_id", charged),
            "span_id": build.take("span_id", charged),
            "span_service": build.take("service", charged),
            "span_operation": build.take("operation", charged),
            "start_time": pa.array(seg_start[segment], TIME),
            "duration_us": pa.array(seg_end[segment] - seg_start[segment], pa.int64()),
            "service": build.names(
                np.where(has_callee, callee, np.where(named >= 0, named, own_service))
            ),
            "operation": build.names(np.where(has_callee, callee_operation, a.operation[charged])),
            "is_wait": pa.array(has_callee | (named >= 0)),
        }
    )

    tables |= message_tables(build, a, group, group_end, parent_group, child_offsets, children)
    recovered = _calls(build, a, tables, group, group_end, parent_group, child_offsets, children)
    tables["error_origins"] = _error_origins(
        build,
        a,
        error_facts,
        roots,
        failed,
        recovered,
        (group, group_end, parent_group, child_offsets, children),
    )

    loss_rows, standin, missing = telemetry_losses(
        a.trace_offsets, group, group_end, a.span, a.row, a.has_parent, parent_group, a.start
    )
    missing_ids = build.take("parent_span_id", loss_rows)
    tables["telemetry_loss"] = pa.table(
        {
            "kind": pa.array(np.where(standin, "trace_without_root", "orphan_span"), pa.string()),
            "trace_id": build.take("trace_id", loss_rows),
            "span_id": build.take("span_id", loss_rows),
            "service": build.take("service", loss_rows),
            "operation": build.take("operation", loss_rows),
            "missing_span_id": pc.if_else(pa.array(missing), missing_ids, None),
            "start_time": build.take("start_time", loss_rows),
        }
    )
    return KernelResults(self_us=pa.array(self_us, pa.int64()), tables=tables)


def _calls(
    build: Columns,
    a: SpanArrays,
    tables: dict[str, pa.Table],
    group: np.ndarray,
    group_end: np.ndarray,
    parent_group: np.ndarray,
    child_offsets: np.ndarray,
    children: np.ndarray,
) -> np.ndarray:
    """span_calls, n_plus_one_runs and call_patterns; returns per sorted row whether its span
    id made an ERROR call that a later call of the same callee under the same parent made good
    (for error_origins)."""
    calls, caller, caller_operation, callee, callee_operation = call_walks.span_calls(
        group,
        group_end,
        parent_group,
        child_offsets,
        children,
        a.span,
        a.row,
        a.has_parent,
        a.duration,
        a.kind,
        a.service,
        a.operation,
        a.peer_endpoint,
    )
    tables["span_calls"] = pa.table(
        {
            "trace_id": build.take("trace_id", calls),
            "span_id": build.take("span_id", calls),
            "parent_span_id": build.take("parent_span_id", calls),
            "caller": build.names(caller),
            "caller_operation": build.names(caller_operation),
            "callee": build.names(callee),
            "callee_operation": build.names(callee_operation),
            "service": build.take("service", calls),
            "operation": build.take("operation", calls),
            "kind": build.take("kind", calls),
            "start_time": build.take("start_time", calls),
            "end_time": build.take("end_time", calls),
            "duration_us": build.take("duration_us", calls),
            "is_error": pa.array(a.is_error[calls]),
        }
    )
    trace = build.trace
    order = np.lexsort(
        (
            a.row[calls],
            a.span[calls],
            a.end[calls],
            a.start[calls],
            callee_operation,
            callee,
            a.parent[calls],
            trace[calls],
        )
    )
    bounds, earlier, has_earlier = call_walks.call_groups(
        calls, order, trace, a.parent, callee, callee_operation, a.start, a.end
    )
    first, counts, wall, total, median_gap, run_start = call_walks.call_runs(
        calls, order, bounds, earlier, has_earlier, a.start, a.end, a.duration
    )
    run_calls = calls[order[first]]
    run_call = order[first]
    tables["n_plus_one_runs"] = pa.table(
        {
            "trace_id": build.take("trace_id", run_calls),
            "parent_span_id": build.take("parent_span_id", run_calls),
            "caller": build.names(caller[run_call]),
            "caller_operation": build.names(caller_operation[run_call]),
            "service": build.names(callee[run_call]),
            "operation": build.names(callee_operation[run_call]),
            "calls": pa.array(counts, pa.int64()),
            "wall_us": pa.array(wall, pa.int64()),
            "sum_us": pa.array(total, pa.int64()),
            "median_gap_us": pa.array(_round_1(median_gap), pa.float64()),
            "start_time": pa.array(run_start, TIME),
        }
    )
    group_counts, concurrent = call_walks.group_concurrency(
        calls, order, bounds, earlier, has_earlier, a.start
    )
    heads = order[bounds[:-1]]  # each group's first call
    head_trace = trace[calls[heads]]
    keys = np.lexsort(
        (
            callee_operation[heads],
            callee[heads],
            caller_operation[heads],
            caller[heads],
            head_trace,
        )
    )
    first_group, most, overlapped = call_walks.patterns(
        keys,
        head_trace,
        caller[heads],
        caller_operation[heads],
        callee[heads],
        callee_operation[heads],
        group_counts,
        concurrent,
    )
    pattern_call = heads[first_group]
    tables["call_patterns"] = pa.table(
        {
            "trace_id": build.take("trace_id", calls[pattern_call]),
            "caller": build.names(caller[pattern_call]),
            "caller_operation": build.names(caller_operation[pattern_call]),
            "callee": build.names(callee[pattern_call]),
            "callee_operation": build.names(callee_operation[pattern_call]),
            "calls": pa.array(most, pa.int64()),
            "concurrent": pa.array(overlapped),
        }
    )

    # recovered: an ERROR call with a later successful call in its group
    starts = a.start[calls[order]]
    ok_start = np.where(a.is_error[calls[order]], np.iinfo(np.int64).min, starts)
    latest_ok = np.maximum.reduceat(ok_start, bounds[:-1]) if len(order) else np.zeros(0, np.int64)
    group_of = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    made_good = a.is_error[calls[order]] & (latest_ok[group_of] >= a.end[calls[order]])
    recovered = np.zeros(len(group), np.bool_)
    recovered[group[calls[order][made_good]]] = True
    return recovered[group]


def _error_origins(
    build: Columns,
    a: SpanArrays,
    error_facts: Callable[[pa.Table], pa.Table],
    roots: np.ndarray,
    failed: np.ndarray,
    recovered: np.ndarray,
    family_arrays: tuple[np.ndarray, ...],
) -> pa.Table:
    group, group_end, parent_group, child_offsets, children = family_arrays
    origins, picks, rules, equally, failures = error_origin_rows(
        a.trace_offsets,
        roots,
        failed,
        group,
        group_end,
        parent_group,
        child_offsets,
        children,
        a.span,
        a.row,
        a.has_parent,
        a.start,
        a.end,
        a.duration,
        a.kind,
        a.is_error,
        recovered,
    )
    picked = build.spans.take(pa.array(a.row[picks], pa.int64()))
    facts = error_facts(picked)
    message = pc.coalesce(
        facts["error_message"],
        facts["exception_type"],
        pc.binary_join_element_wise("HTTP ", facts["http_status"], ""),
    )
    service = picked["service"]
    operation = picked["operation"]
    seconds = _round_1(picked["duration_us"].to_numpy().astype(np.float64) / 1000)
    reasons = []
    for rule, deep, name, op, duration, text in zip(
        rules.tolist(),
        equally.tolist(),
        service.to_pylist(),
        operation.to_pylist(),
        seconds.tolist(),
        message.to_pylist(),
        strict=True,
    ):
        reasons.append(_reason(rule, deep, name, op, duration, text))
    # one row per row of the origin's span id (duplicates: each)
    sizes = group_end[origins] - group[origins]
    rows = np.repeat(group[origins], sizes) + _ranks_within(sizes)
    each = np.repeat(np.arange(len(origins)), sizes)
    index = pa.array(each)
    return pa.table(
        {
            "trace_id": build.take("trace_id", rows),
            "span_id": build.take("span_id", rows),
            "service": build.take("service", rows),
            "operation": build.take("operation", rows),
            "reason": pa.array(reasons, pa.string()).take(index),
            "rule": pa.array(np.array(RULES, object)[rules], pa.string()).take(index),
            "status": pc.fill_null(build.take("status", rows), "UNSET"),
            "start_time": build.take("start_time", rows),
            "error_span_id": picked["span_id"].take(index).combine_chunks(),
            "error_service": service.take(index).combine_chunks(),
            "error_operation": operation.take(index).combine_chunks(),
            "error_message": message.take(index),
            "failed": pa.array(failures).take(index),
        }
    )


RULES = ("deepest_error", "earliest_error", "timeout")


def _reason(
    rule: int,
    deep: int,
    service: str | None,
    operation: str | None,
    milliseconds: float,
    message: str | None,
) -> str | None:
    """Why the span is the origin, in words (NULL where a name is NULL, as SQL's ``||``)."""
    if rule == TIMEOUT:
        if service is None or operation is None:
            return None
        return (
            f"timeout: {service} {operation} gave up after {_double_text(milliseconds)}"
            " ms while this span was still running"
            + (f" ({message})" if message is not None else "")
        )
    detail = f": {message}" if message is not None else ""
    if rule == EARLIEST:
        return f"earliest of {deep} deepest errors{detail}"
    return f"deepest error{detail}"


def _double_text(value: float) -> str:
    """A double as DuckDB casts it to text (shortest round-trip digits)."""
    return repr(value)


def _ranks_within(sizes: np.ndarray) -> np.ndarray:
    """0, 1, ... within each run of ``sizes``."""
    total = int(sizes.sum())
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(total) - starts


def _round_1(values: np.ndarray) -> np.ndarray:
    """DuckDB's round(x, 1) of a double: half away from zero."""
    return np.sign(values) * np.floor(np.abs(values) * 10 + 0.5) / 10
