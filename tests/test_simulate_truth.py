"""The simulator's truth file agrees with the spans it wrote, checked independently in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tracekit
from tests.conftest import drawn
from tests.plugins.simulated import SLOW_DETECT, WORKSHOP_SERVICES

START = "2026-01-05T16:00:00Z"
HOURS = 2.0
WINDOW_START = datetime(2026, 1, 5, 16, 0, 0)


def _rows(dataset: Any, sql: str, **params: Any) -> list[tuple]:
    con = tracekit.connect(dataset)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def api_errors(simulated):  # type: ignore[no-untyped-def]
    return simulated("api-errors", hours=HOURS, seed=11, start=START)


@pytest.fixture(scope="module")
def queue_loss(simulated):  # type: ignore[no-untyped-def]
    return simulated("queue-loss", hours=HOURS, seed=12, start=START)


def test_truth_has_exactly_the_documented_fields(api_errors) -> None:  # type: ignore[no-untyped-def]
    _, truth = api_errors
    assert set(truth) == {
        "scenario",
        "seed",
        "load",
        "orders",
        "components",
        "bottleneck",
        "lost_orders",
        "lost_messages",
        "orphaned_spans",
    }
    assert set(truth["components"]) == WORKSHOP_SERVICES
    for component in truth["components"].values():
        assert set(component) == {
            "workers",
            "arrivals",
            "mean_service_ms",
            "utilization",
            "peak_utilization",
            "saturation_load",
        }
    assert all(set(lost) == {"trace_id", "component", "reason"} for lost in truth["lost_orders"])
    assert truth["scenario"] == "api-errors" and truth["seed"] == drawn(11) and truth["load"] == 1.0


def test_arrivals_equal_server_and_consumer_span_counts(api_errors) -> None:  # type: ignore[no-untyped-def]
    dataset, truth = api_errors
    counts = dict(
        _rows(
            dataset,
            "SELECT service, count(*) FROM spans "
            "WHERE kind IN ('server', 'consumer') GROUP BY service",
        )
    )
    assert counts == {name: c["arrivals"] for name, c in truth["components"].items()}
    orders = _rows(
        dataset,
        "SELECT count(*) FROM spans WHERE service = 'internet-shop' AND parent_span_id IS NULL",
    )[0][0]
    assert orders == truth["orders"]


def test_utilization_matches_an_estimate_from_the_spans(api_errors) -> None:  # type: ignore[no-untyped-def]
    dataset, truth = api_errors
    duration_us = int(HOURS * 3600e6)
    busy = dict(
        _rows(
            dataset,
            """
        SELECT service, sum(greatest(0, least(epoch_us(end_time), $t0 + $d)
                                      - greatest(epoch_us(start_time), $t0)))
        FROM spans WHERE kind IN ('server', 'consumer') GROUP BY service
        """,
            t0=_epoch_us(WINDOW_START),
            d=duration_us,
        )
    )
    for name, component in truth["components"].items():
        estimate = busy[name] / (component["workers"] * duration_us)
        assert estimate == pytest.approx(component["utilization"], rel=1e-3, abs=1e-6), name


def test_peak_utilization_is_the_busiest_five_minutes(api_errors) -> None:  # type: ignore[no-untyped-def]
    dataset, truth = api_errors
    per_bucket = _rows(
        dataset,
        """
        WITH buckets AS (
            SELECT $t0 + b * 300000000 AS lo, $t0 + (b + 1) * 300000000 AS hi
            FROM range(CAST($n AS BIGINT)) t(b)
        )
        SELECT service, max(busy) FROM (
            SELECT s.service, b.lo, sum(least(epoch_us(s.end_time), b.hi)
                                        - greatest(epoch_us(s.start_time), b.lo)) AS busy
            FROM spans s JOIN buckets b
              ON epoch_us(s.start_time) < b.hi AND epoch_us(s.end_time) > b.lo
            WHERE s.kind IN ('server', 'consumer')
            GROUP BY s.service, b.lo
        ) GROUP BY service
        """,
        t0=_epoch_us(WINDOW_START),
        n=int(HOURS * 12),
    )
    peaks = {
        name: busy / (truth["components"][name]["workers"] * 300e6) for name, busy in per_bucket
    }
    for name, component in truth["components"].items():
        assert peaks[name] == pytest.approx(component["peak_utilization"], rel=1e-3), name
        assert component["saturation_load"] == pytest.approx(
            truth["load"] / component["peak_utilization"], rel=1e-3
        )
    assert truth["bottleneck"] == max(peaks, key=peaks.__getitem__)


# Delivered = an order's message reached a consumer that called crm successfully (a crm server
# span without error under the consumer). The consumer span links to the producer in a trace of
# its own (`consumer: linked`) or is its child in the order's trace (`child`).
DELIVERED_SQL = """
WITH orders AS (
    SELECT trace_id FROM spans WHERE service = 'internet-shop' AND parent_span_id IS NULL
), consumers AS (
    SELECT trace_id AS consumer_trace, span_id,
           CASE WHEN len(links) > 0 THEN links[1].trace_id ELSE trace_id END AS producer_trace
    FROM spans WHERE kind = 'consumer'
), crm_ok AS (
    SELECT DISTINCT w.trace_id, w.parent_span_id AS consumer_span_id
    FROM spans k JOIN spans w ON w.trace_id = k.trace_id AND w.span_id = k.parent_span_id
    WHERE k.service = 'crm' AND k.kind = 'server' AND k.status <> 'ERROR'
)
SELECT o.trace_id, bool_or(k.trace_id IS NOT NULL) AS delivered
FROM orders o
LEFT JOIN consumers c ON c.producer_trace = o.trace_id
LEFT JOIN crm_ok k ON k.trace_id = c.consumer_trace AND k.consumer_span_id = c.span_id
GROUP BY o.trace_id
"""


def test_lost_orders_are_exactly_the_orders_that_never_reached_crm(api_errors) -> None:  # type: ignore[no-untyped-def]
    dataset, truth = api_errors
    undelivered = {trace for trace, delivered in _rows(dataset, DELIVERED_SQL) if not delivered}
    lost = {entry["trace_id"]: entry for entry in truth["lost_orders"]}
    assert undelivered == set(lost)
    reasons = [entry["reason"] for entry in lost.values()]
    assert "error" in reasons, f"seed {truth['seed']}"
    # every request refused while the load balancer had not noticed the outage was lost (it
    # refuses ~1.5 requests in its 20 s: some seeds refuse none)
    ((refused,),) = _rows(
        dataset, "SELECT count(*) FROM spans WHERE status_message = 'connection refused by mes-api'"
    )
    assert reasons.count("instance_down") == refused, f"seed {truth['seed']}"
    # The named component is where the trace shows the failure starting.
    for trace_id, entry in lost.items():
        if entry["reason"] == "error":
            # in the order's trace, or in a consumer's trace linked to it (api-errors' consumers
            # start traces of their own: a failure at crm is there)
            origins = _rows(
                dataset,
                "WITH order_traces AS (SELECT $t AS trace_id UNION "
                "  SELECT trace_id FROM spans "
                "  WHERE list_contains(list_transform(links, lambda l: l.trace_id), $t)) "
                "SELECT DISTINCT service FROM spans WHERE trace_id IN (FROM order_traces) "
                "AND status_message LIKE 'HTTP 500:%'",
                t=trace_id,
            )
            assert origins == [(entry["component"],)], f"seed {truth['seed']}: {trace_id}"
        elif entry["reason"] == "instance_down":
            refused = _rows(
                dataset,
                "SELECT count(*) FROM spans WHERE trace_id = $t AND status_message = $m",
                t=trace_id,
                m=f"connection refused by {entry['component']}",
            )
            assert refused[0][0] == 1, trace_id


def test_bursts_make_mes_api_the_main_source_of_lost_orders(api_errors) -> None:  # type: ignore[no-untyped-def]
    _, truth = api_errors
    by_component: dict[str, int] = {}
    for entry in truth["lost_orders"]:
        by_component[entry["component"]] = by_component.get(entry["component"], 0) + 1
    assert max(by_component, key=by_component.__getitem__) == "mes-api"
    assert truth["orphaned_spans"] == 0


def test_lost_messages_have_no_consumer_span(queue_loss) -> None:  # type: ignore[no-untyped-def]
    dataset, truth = queue_loss
    lost_ids = {entry["message_id"] for entry in truth["lost_messages"]}
    assert lost_ids
    rows = _rows(
        dataset,
        """
        SELECT kind, attributes['messaging.message.id'] AS id, trace_id FROM spans
        WHERE kind IN ('producer', 'consumer')""",
    )
    consumed = {mid for kind, mid, _ in rows if kind == "consumer"}
    produced = {mid: trace for kind, mid, trace in rows if kind == "producer"}
    assert not lost_ids & consumed
    # Telemetry loss may drop a lost message's producer span, but never invents one.
    for entry in truth["lost_messages"]:
        if entry["message_id"] in produced:
            assert produced[entry["message_id"]] == entry["trace_id"]
    assert len(lost_ids & set(produced)) >= 0.9 * len(lost_ids)
    # Every consumer span of a message that was not lost is linked to its producer.
    messages = len(produced) + len(consumed - set(produced))
    share = len(lost_ids) / messages
    assert 0.01 < share < 0.15, share


def test_telemetry_loss_gives_orphans_but_no_lost_orders(queue_loss) -> None:  # type: ignore[no-untyped-def]
    dataset, truth = queue_loss
    orphans = _rows(
        dataset,
        """
        SELECT count(*) FROM spans c
        WHERE c.parent_span_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM spans p WHERE p.trace_id = c.trace_id AND p.span_id = c.parent_span_id)
    """,
    )[0][0]
    assert orphans == truth["orphaned_spans"] > 0
    # Business loss is only what the queue did: telemetry loss adds no lost orders.
    reasons = {entry["reason"] for entry in truth["lost_orders"]}
    assert {"message_lost", "message_expired"} <= reasons
    queue_lost = {e["trace_id"] for e in truth["lost_orders"] if e["reason"].startswith("message")}
    lost_message_traces = {e["trace_id"] for e in truth["lost_messages"]}
    assert queue_lost <= lost_message_traces


def _epoch_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def test_timeouts_leave_the_callee_working_and_lose_only_undelivered_orders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tracekit.dataset import write_spans
    from tracekit.simulate import simulate

    case = Path(__file__).parent / "cases" / "simulate" / "short-timeouts.yaml"
    result = simulate(case, duration_s=3600, seed=drawn(3), start="2026-01-05T19:00:00Z")
    write_spans(tmp_path / "ds", result.batches, source=result.source())
    rows = _rows(
        tmp_path / "ds",
        """
        SELECT c.trace_id, c.duration_us,
               -- mes works past the client's timeout, or its answer (0.6 ms on the network,
               -- baseline.yaml) was already on its way when the client gave up
               s.end_time + INTERVAL 600 MICROSECONDS > c.end_time
        FROM spans c JOIN spans s ON s.trace_id = c.trace_id AND s.parent_span_id = c.span_id
        WHERE c.service = 'mes-api' AND c.kind = 'client'
          AND c.status_message = 'timeout after 4s waiting for mes'""",
    )
    assert len(rows) > 20
    assert all(duration == pytest.approx(4_000_000, abs=2) for _, duration, _ in rows)
    assert all(outlived for _, _, outlived in rows), f"seed {drawn(3)}"
    undelivered = {t for t, delivered in _rows(tmp_path / "ds", DELIVERED_SQL) if not delivered}
    lost = {entry["trace_id"]: entry for entry in result.truth["lost_orders"]}
    assert undelivered == set(lost)
    timed_out = {trace for trace, _, _ in rows}
    # Most timed-out orders still reached CRM (mes finished them), so they are not lost.
    assert len(timed_out - set(lost)) > 0.5 * len(timed_out)


def test_stalled_consumers_take_nothing_and_ttl_bounds_the_wait(queue_loss) -> None:  # type: ignore[no-untyped-def]
    dataset, _ = queue_loss
    # queue-loss: both consumers stall 16:20-16:35; messages expire after 10 minutes.
    during = _rows(
        dataset,
        """
        SELECT count(*) FROM spans WHERE kind = 'consumer'
          AND start_time > TIMESTAMP '2026-01-05 16:20:01'
          AND start_time < TIMESTAMP '2026-01-05 16:35:00'""",
    )
    assert during[0][0] == 0
    waits = _rows(
        dataset,
        """
        SELECT max(epoch_us(c.start_time) - epoch_us(p.end_time)), count(*)
        FROM spans c JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
        WHERE c.kind = 'consumer' AND p.kind = 'producer'""",
    )
    longest_us, consumed = waits[0]
    assert consumed > 100
    assert 5 * 60e6 < longest_us <= 10 * 60e6


def test_instance_outage_takes_its_workers_away(simulated) -> None:  # type: ignore[no-untyped-def]
    # api-errors, its load balancer slower to notice: mes-api instance 1 down 16:30-16:40
    dataset, truth = simulated(str(SLOW_DETECT), hours=0.75, seed=13, start=START)
    where = f"seed {truth['seed']}"
    started = _rows(
        dataset,
        """
        SELECT count(*) FROM spans WHERE service = 'mes-api' AND kind = 'server'
          AND resource['service.instance.id'] = 'mes-api-1'
          AND start_time >= TIMESTAMP '2026-01-05 16:30:00'
          AND start_time < TIMESTAMP '2026-01-05 16:40:00'""",
    )
    assert started[0][0] == 0, where
    refused = _rows(
        dataset,
        """
        SELECT min(start_time), max(start_time), count(*) FROM spans
        WHERE status_message = 'connection refused by mes-api'""",
    )
    first, last, count = refused[0]
    assert count > 0, where
    assert first >= datetime(2026, 1, 5, 16, 30) and last < datetime(2026, 1, 5, 16, 33), where
    assert sum(e["reason"] == "instance_down" for e in truth["lost_orders"]) == count, where
    other = _rows(
        dataset,
        """
        SELECT count(*) FROM spans WHERE service = 'mes-api' AND kind = 'server'
          AND resource['service.instance.id'] = 'mes-api-0'
          AND start_time >= TIMESTAMP '2026-01-05 16:30:00'
          AND start_time < TIMESTAMP '2026-01-05 16:40:00'""",
    )
    assert other[0][0] > 0, where
