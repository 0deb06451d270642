"""The message-queue pipeline run for real (tests/realsys/pipeline): RabbitMQ, Flask, requests
and pika with the real OpenTelemetry instrumentations, Jaeger, tracekit's export.

Ground truth is what the real systems recorded (HTTP answers, crm's log, the broker's dead
letters and unroutable count), which the fixture checks against the planned fates.
"""

from __future__ import annotations

import pytest

from tests.plugins.rabbitmq import Pipeline
from tracekit.connect import connect

pytestmark = [pytest.mark.rabbitmq, pytest.mark.jaeger, pytest.mark.slow]


@pytest.mark.parametrize("variant", ["ids", "no-ids"])
def test_the_capture_is_shaped_as_the_architecture_decision(pipeline: Pipeline, variant: str) -> None:
    run = pipeline(variant)
    with connect(run.dataset) as con:
        services = {row[0] for row in con.execute("SELECT DISTINCT service FROM span_rows").fetchall()}
        roots = con.execute(
            "SELECT DISTINCT trace_id FROM span_rows WHERE parent_span_id IS NULL"
        ).fetchall()
    # shop-api propagates nothing: each order is one trace rooted at mes-api.
    assert services == {"mes-api", "mes", "crm"}, run.seed
    assert {row[0] for row in roots} == {o.trace_id for o in run.orders}, run.seed
