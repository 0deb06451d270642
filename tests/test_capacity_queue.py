"""Capacity of the real message-queue pipeline (RabbitMQ, services instrumented by the real
OpenTelemetry libraries; tests/plugins/rabbitmq.py) with a slow consumer: crm takes 0.4 s per
order while mes publishes one every ~0.2 s, so orders wait seconds in the broker. The consumer
is a component like any other: its arrivals are the messages published, its service the
consumer spans, its waits those of `message_waits`; it must come first to saturate."""

from __future__ import annotations

import pytest

from tests.plugins.rabbitmq import Pipeline
from tracekit.capacity import capacity_plan
from tracekit.connect import connect

pytestmark = [pytest.mark.rabbitmq, pytest.mark.jaeger, pytest.mark.slow]


def test_slow_consumer_saturates_first(pipeline: Pipeline) -> None:
    run = pipeline("slow")
    plan = capacity_plan(run.dataset, [1.0, 2.0])
    where = f"slow pipeline, seed {run.seed}: {plan.first.sentence if plan.first else None}"
    assert plan.first_to_saturate == "crm", where
    crm = plan.limits.set_index("component").loc["crm"]
    # one consumer (prefetch 1), seen from the messages that waited while it was busy
    assert (crm["workers"], crm["source"]) == (1, "queueing"), where
    assert "broker" in crm["evidence"], where
    table = plan.table.set_index(["service", "multiplier"])
    # the data shows crm at its limit already: busy all the time the data covers
    assert table.loc[("crm", 1.0), "utilization"] > 0.9, where
    assert table.loc[("crm", 1.0), "saturation_multiplier"] <= 1.05, where
    assert table.loc[("crm", 2.0), "saturated"], where
    # its arrivals are the messages mes published, counted over the time the data covers
    with connect(run.dataset) as con:
        ((published, seconds),) = con.execute(
            "SELECT (SELECT count(*) FROM message_waits WHERE consumer_service = 'crm'), "
            "(epoch_us(max(end_time)) - epoch_us(min(start_time))) / 1e6 FROM spans"
        ).fetchall()
    assert published == len(run.orders), where
    # the table gives the busiest period's rate: at least the capture's average, at most its
    # busiest window's (a window of few arrivals is pooled with a neighbour); the windows count
    # every message once
    windows = plan.windows[plan.windows["service"] == "crm"]
    assert windows["arrivals"].sum() == published, where
    rate = table.loc[("crm", 1.0), "arrivals_per_s"]
    busiest = windows["arrival_rate_per_s"].max()
    assert 0.99 * published / seconds <= rate <= 1.01 * busiest, (where, rate, busiest)
    # the services in front of the broker are far from any limit
    for service in ("mes-api", "mes"):
        assert not table.loc[(service, 2.0), "saturated"], where
