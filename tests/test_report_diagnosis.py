"""Saturated, contended or slow, on hand-made traces with hand-computed answers."""

from __future__ import annotations

from pathlib import Path

import pytest

import tracekit
from tests.spanrows import span, table
from tracekit.dataset import write_spans
from tracekit.report.diagnosis import bottleneck_table, diagnose, inner_waits

MS = 1000


def _calls(trace: str, *, queued_ms: int, lock_event: bool) -> list[dict]:
    """api (1,000 ms) calls db once; db starts ``queued_ms`` after the call went out (its
    callers' wait) and works until 20 ms before api ends."""
    start = 0
    rows = [
        span(trace, "a", None, "api", start, 1000 * MS, operation="GET /x"),
        span(trace, "b", "a", "api", start + 10 * MS, 980 * MS, operation="db call", kind="client",
             attributes={"peer.service": "db"}),
        span(trace, "c", "b", "db", start + (10 + queued_ms) * MS, (970 - queued_ms) * MS,
             operation="SELECT"),
    ]  # fmt: skip
    if lock_event:
        rows[2]["events"] = [
            {"time": rows[2]["start_time"], "name": "Waiting for lock behind 3 transactions",
             "attributes": []}
        ]  # fmt: skip
    return rows


def _dataset(tmp_path: Path, *, queued_ms: int, lock_event: bool) -> Path:
    rows = []
    for index in range(20):
        rows += _calls(f"{index:032x}", queued_ms=queued_ms, lock_event=lock_event)
    write_spans(tmp_path / "ds", [table(rows)])
    return tmp_path / "ds"


def test_a_queue_in_front_of_the_callee_is_saturation_charged_to_it(tmp_path: Path) -> None:
    con = tracekit.connect(_dataset(tmp_path, queued_ms=590, lock_event=False))
    board = bottleneck_table(con).set_index("service")
    # api's client waits 590 ms before db starts and 10 ms after: db's wait, not api's work
    assert board.loc["api", "own_p95_ms"] == pytest.approx(20, abs=0.01)
    assert board.loc["db", "wait_p95_ms"] == pytest.approx(600, abs=0.01)
    assert board.loc["db", "own_p95_ms"] == pytest.approx(380, abs=0.01)
    verdict = diagnose(bottleneck_table(con), inner_waits(con))
    assert verdict is not None and verdict.service == "db" and verdict.state == "saturated"
    assert verdict.wait_share == pytest.approx(600 / 980, abs=0.01)


def test_a_lock_inside_the_callee_is_contention(tmp_path: Path) -> None:
    con = tracekit.connect(_dataset(tmp_path, queued_ms=0, lock_event=True))
    verdict = diagnose(bottleneck_table(con), inner_waits(con))
    assert verdict is not None and verdict.service == "db" and verdict.state == "contended"
    assert verdict.inner_wait_share == 1.0
    assert verdict.inner_wait_event == "Waiting for lock behind 3 transactions"


def test_own_work_without_waiting_is_slow(tmp_path: Path) -> None:
    con = tracekit.connect(_dataset(tmp_path, queued_ms=0, lock_event=False))
    verdict = diagnose(bottleneck_table(con), inner_waits(con))
    assert verdict is not None and verdict.service == "db" and verdict.state == "slow"


def test_a_database_seen_only_through_its_own_client_spans_is_contended(tmp_path: Path) -> None:
    # HotROD's shape: mysql's spans are client spans of a "mysql" tracer naming mysql as peer,
    # so the view charges their whole time to mysql as a wait; its lock events say what it is.
    rows = []
    for index in range(20):
        trace = f"{index:032x}"
        rows += [
            span(trace, "a", None, "customer", 0, 1000 * MS, operation="/customer"),
            span(trace, "b", "a", "mysql", 10 * MS, 980 * MS, operation="SQL SELECT",
                 kind="client", attributes={"peer.service": "mysql"}),
        ]  # fmt: skip
        rows[-1]["events"] = [
            {"time": rows[-1]["start_time"], "name": "Waiting for lock behind 4 transactions",
             "attributes": []}
        ]  # fmt: skip
    write_spans(tmp_path / "ds", [table(rows)])
    con = tracekit.connect(tmp_path / "ds")
    board = bottleneck_table(con).set_index("service")
    assert board.loc["mysql", "wait_share"] == pytest.approx(1.0)  # the view's charge
    assert board.loc["mysql", "span_p95_ms"] == pytest.approx(980, abs=0.01)
    verdict = diagnose(bottleneck_table(con), inner_waits(con))
    assert verdict is not None and verdict.service == "mysql" and verdict.state == "contended"
