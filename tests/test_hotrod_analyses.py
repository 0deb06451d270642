"""The analyses on Jaeger's HotROD under load (issue 14), checked against what HotROD itself is
and did: the driver's HTTP answers, a plain critical-path walk written apart from the SQL, the
structure of its code (one process; a Redis loop per driver; a route worker pool; a DB mutex).

Captures (tests/plugins/hotrod.py): defaults and -M under 10 closed-loop clients, and open loop
at r and 2r on the defaults. Each assertion names the capture and its seed.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import critical_path_reference as reference
from tests.plugins.hotrod import CAPTURES, HotrodCapture
from tracekit.analytics.errors import error_origin_summary, error_outcomes
from tracekit.connect import connect

pytestmark = [pytest.mark.jaeger, pytest.mark.hotrod]


@pytest.fixture(params=CAPTURES)
def hotrod(request: pytest.FixtureRequest) -> HotrodCapture:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def test_critical_path_is_the_plain_walk(hotrod: HotrodCapture) -> None:
    """Every span of a HotROD trace comes from one process, so no clock skew is allowed for: the
    critical path is exactly the plain last-finishing-child walk on >= 99% of the traces (it was
    5 of 300 before issue 14: the skew rule fired on the parallel route calls), and no segment
    lies outside its own span on any trace."""
    con = connect(hotrod.dataset)
    got: dict[str, list[tuple[str, int, int]]] = {}
    for trace, span, start, end in con.execute(
        "SELECT trace_id, span_id, epoch_us(start_time), epoch_us(end_time) FROM critical_path"
    ).fetchall():
        got.setdefault(trace, []).append((span, start, end))
    spans = reference.spans_of(con)
    agree = sum(
        sorted(got.get(trace, [])) == sorted(reference.walk(trace_spans))
        for trace, trace_spans in spans.items()
    )
    assert agree >= 0.99 * len(spans), (hotrod.describe(), agree, len(spans))
    assert reference.segments_outside(con) == [], hotrod.describe()
    shifted = con.execute("SELECT count(*) FROM critical_path WHERE clock_shift_us <> 0")
    assert shifted.fetchall() == [(0,)], hotrod.describe()


def test_route_time_on_the_path_fits_in_the_route_phase(hotrod: HotrodCapture) -> None:
    """Per trace, route's critical-path time is at most the wall time from the first route span's
    start to the last one's end (it exceeded it in 290 of 300 traces before issue 14)."""
    con = connect(hotrod.dataset)
    over = con.execute(
        """
        WITH phase AS (
            SELECT trace_id, epoch_us(max(end_time)) - epoch_us(min(start_time)) AS wall_us
            FROM span_rows WHERE service = 'route' GROUP BY trace_id
        ),
        path AS (
            SELECT trace_id, sum(duration_us) AS cp_us
            FROM critical_path WHERE service = 'route' GROUP BY trace_id
        )
        SELECT count(*) FROM path JOIN phase USING (trace_id) WHERE cp_us > wall_us
        """
    ).fetchall()
    assert over == [(0,)], hotrod.describe()


def test_n_plus_one_is_the_redis_loop_and_nothing_else(hotrod: HotrodCapture) -> None:
    """The driver calls Redis GetDriver once per driver, one call after another
    (services/driver/server.go): flagged in every trace where that loop made at least 5 calls,
    that is every request that succeeded. Nothing else is: not the route fan-out through a busy
    worker pool (flagged in 292 of 300 -M traces before issue 14)."""
    con = connect(hotrod.dataset)
    flagged = con.execute(
        "SELECT DISTINCT caller, service, operation FROM n_plus_one ORDER BY ALL"
    ).fetchall()
    assert flagged == [("driver", "redis-manual", "GetDriver")], hotrod.describe()
    loops = {
        trace
        for (trace,) in con.execute(
            "SELECT trace_id FROM span_rows WHERE service = 'redis-manual' "
            "AND operation = 'GetDriver' GROUP BY trace_id, parent_span_id HAVING count(*) >= 5"
        ).fetchall()
    }
    found = {trace for (trace,) in con.execute("SELECT trace_id FROM n_plus_one").fetchall()}
    succeeded = {r.trace_id for r in hotrod.run.records if r.ok}
    assert found == loops, hotrod.describe()
    assert succeeded <= found, hotrod.describe()
    # one run per loop, holding every call: back to back, nothing split off
    runs = con.execute(
        "SELECT n.calls, g.calls FROM n_plus_one AS n JOIN (SELECT trace_id, parent_span_id, "
        "count(*) AS calls FROM span_rows WHERE operation = 'GetDriver' GROUP BY ALL) AS g "
        "USING (trace_id, parent_span_id)"
    ).fetchall()
    assert len(runs) == len(found) and all(a == b for a, b in runs), hotrod.describe()


def test_failed_traces_are_the_requests_that_failed(hotrod: HotrodCapture) -> None:
    """`traces.failed` is exactly the requests the driver got a non-2xx answer for; every other
    trace holding ERROR spans (HotROD's recovered Redis retries) is not failed."""
    con = connect(hotrod.dataset)
    failed = {t for (t,) in con.execute("SELECT trace_id FROM traces WHERE failed").fetchall()}
    non_2xx = {r.trace_id for r in hotrod.run.records if not r.ok}
    assert failed == non_2xx, hotrod.describe()
    # HotROD fails every 5th Redis call and retries it: most answered requests hold errors
    recovered = con.execute(
        "SELECT count(*) FROM traces WHERE error_count > 0 AND NOT failed"
    ).fetchall()[0][0]
    assert recovered > len(hotrod.run.records) // 2, hotrod.describe()
    # the two figures as the reports get them
    outcomes = error_outcomes(con).iloc[0]
    assert (outcomes["traces"], outcomes["failed"], outcomes["recovered"]) == (
        len(hotrod.run.records),
        hotrod.run.non_2xx,
        recovered,
    ), hotrod.describe()


def test_failed_requests_began_where_the_redis_call_failed_three_times(
    hotrod: HotrodCapture,
) -> None:
    """A request fails when one driver's GetDriver fails three times in a row; its error origin
    is that call (on redis), not an earlier call that failed once and was retried."""
    con = connect(hotrod.dataset)
    origins = con.execute(
        """
        SELECT o.trace_id, o.service, o.operation, o.failed,
               -- a later GetDriver under the same parent that succeeded: a recovered error
               EXISTS (SELECT 1 FROM span_rows AS later
                       WHERE later.trace_id = s.trace_id
                         AND later.parent_span_id = s.parent_span_id
                         AND later.operation = s.operation AND later.start_time >= s.end_time
                         AND later.status <> 'ERROR') AS retried_fine
        FROM error_origins AS o JOIN span_rows AS s USING (trace_id, span_id)
        WHERE o.failed
        """
    ).fetchall()
    non_2xx = {r.trace_id for r in hotrod.run.records if not r.ok}
    assert {row[0] for row in origins} == non_2xx, hotrod.describe()
    for trace, service, operation, _, retried_fine in origins:
        assert (service, operation, retried_fine) == ("redis-manual", "GetDriver", False), (
            hotrod.describe(),
            trace,
        )
    summary = error_origin_summary(con, failed=True)
    assert summary["traces"].sum() == len(non_2xx), hotrod.describe()
    assert set(summary["service"]) <= {"redis-manual"}, hotrod.describe()


@pytest.mark.parametrize(
    ("capture", "mysql_first"), [("hotrod_defaults", True), ("hotrod_fixed", False)]
)
def test_bottlenecks_rank_mysql_first_only_with_the_mutex(
    capture: str, mysql_first: bool, request: Any
) -> None:
    """With its DB mutex HotROD queues every request for the one connection: mysql owns the
    critical path. With -M it does not (the route worker pool in the frontend does)."""
    hotrod: HotrodCapture = request.getfixturevalue(capture)
    con = connect(hotrod.dataset)
    ranks = con.execute("SELECT service FROM bottlenecks ORDER BY rank").fetchall()
    assert (ranks[0][0] == "mysql") == mysql_first, (hotrod.describe(), ranks[:3])
