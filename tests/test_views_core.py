"""The core views (spans.self_us, traces, dependencies) on hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import tracekit
from tests.spanrows import span, table
from tracekit.dataset import write_spans


def test_self_time_is_duration_minus_union_of_clipped_children(dataset: Path) -> None:
    rows = [
        span("t", "root", None, "A", 0, 100),
        span("t", "b", "root", "B", 10, 20),  # [10, 30]
        span("t", "c", "root", "B", 25, 30),  # [25, 55] overlaps b
        span("t", "d", "root", "C", 90, 50),  # [90, 140] clipped to [90, 100]
        span("t", "e", "root", "C", 200, 5),  # wholly outside: counts nothing
        span("t", "f", "b", "D", 0, 15),  # starts before its parent: clipped to [10, 15]
    ]
    write_spans(dataset, [table(rows)])
    con = tracekit.connect(dataset)
    got = dict(con.execute("SELECT span_id, self_us FROM spans").fetchall())
    assert got == {"root": 100 - 45 - 10, "b": 20 - 5, "c": 30, "d": 50, "e": 5, "f": 15}


def test_traces_view_names_the_root_and_counts(dataset: Path) -> None:
    rows = [
        span("t1", "r", None, "shop-api", 0, 100, operation="POST /orders"),
        span("t1", "x", "r", "mes-api", 5, 200, status="ERROR"),
        span("t2", "o", "lost-parent", "mes", 50, 10),  # root never arrived
    ]
    write_spans(dataset, [table(rows)])
    con = tracekit.connect(dataset)
    got = con.execute(
        "SELECT trace_id, root_service, root_operation, duration_us, span_count, error_count, "
        "services, has_root FROM traces ORDER BY trace_id"
    ).fetchall()
    assert got == [
        ("t1", "shop-api", "POST /orders", 205, 2, 1, ["mes-api", "shop-api"], True),
        ("t2", "mes", "op", 10, 1, 0, ["mes"], False),
    ]


def test_dependencies_count_calls_errors_and_links(dataset: Path) -> None:
    rows = [
        span("t", "r", None, "mes", 0, 1000, kind="server"),
        span("t", "c1", "r", "mes", 10, 100, kind="client"),
        span("t", "s1", "c1", "model-storage", 20, 80, kind="server"),
        span("t", "c2", "r", "mes", 200, 100, kind="client"),
        span("t", "s2", "c2", "model-storage", 210, 60, kind="server", status="ERROR"),
        span("t", "p", "r", "mes", 400, 5, kind="producer"),
        span(
            "u",
            "q",
            None,
            "order-queue",
            500,
            30,
            kind="consumer",
            links=[{"trace_id": "t", "span_id": "p", "kind": "follows_from"}],
        ),
    ]
    write_spans(dataset, [table(rows)])
    con = tracekit.connect(dataset)
    got = con.execute(
        "SELECT caller, callee, calls, errors, p50_us, caller_p95_us, via FROM dependencies "
        "ORDER BY callee"
    ).fetchall()
    assert got == [
        ("mes", "model-storage", 2, 1, 70.0, 100.0, ["child_of"]),
        ("mes", "order-queue", 1, 0, 30.0, 5.0, ["link"]),
    ]
