"""The message-queue pipeline run for real (tests/realsys/pipeline): RabbitMQ, Flask, requests
and pika with the real OpenTelemetry instrumentations, Jaeger, tracekit's export.

Ground truth is what the real systems recorded (HTTP answers, crm's log, the broker's dead
letters and unroutable count), which the fixture checks against the planned fates.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.plugins.importers import assert_same, compiled_or_skip, spans_per_trace
from tests.plugins.rabbitmq import TRACED, Pipeline
from tests.realsys.pipeline.run import FAILED_HTTP, LOST_IN_BROKER, REJECTED, PipelineRun
from tracekit.analytics.funnel import funnel, funnel_orders
from tracekit.connect import connect
from tracekit.importers import native

pytestmark = [pytest.mark.rabbitmq, pytest.mark.jaeger, pytest.mark.slow]


@pytest.mark.parametrize("variant", ["ids", "no-ids"])
def test_the_capture_is_shaped_as_the_architecture_decision(
    pipeline: Pipeline, variant: str
) -> None:
    run = pipeline(variant)
    with connect(run.dataset) as con:
        services = {
            row[0] for row in con.execute("SELECT DISTINCT service FROM span_rows").fetchall()
        }
        roots = con.execute(
            "SELECT DISTINCT trace_id FROM span_rows WHERE parent_span_id IS NULL"
        ).fetchall()
    # shop-api propagates nothing: each order is one trace rooted at mes-api.
    assert services == {"mes-api", "mes", "crm"}, run.seed
    assert {row[0] for row in roots} == {o.trace_id for o in run.orders}, run.seed


@pytest.mark.parametrize("variant", ["ids", "no-ids"])
def test_jaegers_own_answers_are_read_compiled_as_in_python(
    pipeline: Pipeline, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jaeger's own /api/traces answers for the traced services (spans of the real Flask,
    requests and pika instrumentations: producers and consumers, links, messaging attributes)
    are mapped by the compiled converter, not left to Python, into the rows the Python importer
    gives; together they hold every trace the dataset exported through API v3, span for span."""
    compiled_or_skip()
    run = pipeline(variant)
    spans: dict[str, int] = {}
    for service in TRACED:
        payload = (run.dataset.parent / f"api-traces-{service}.json").read_bytes()
        assert assert_same(payload, monkeypatch, must_map=True), (service, run.seed)
        batch = native.jaeger_batch(payload)
        assert batch is not None
        found = spans_per_trace(batch)
        assert all(spans.get(trace, count) == count for trace, count in found.items()), run.seed
        spans |= found
    with connect(run.dataset) as con:
        stored = dict(
            con.execute("SELECT trace_id, count(*) FROM span_rows GROUP BY trace_id").fetchall()
        )
    assert spans == stored, run.seed


def _traces(run: PipelineRun, *fates: str) -> set[str]:
    return {o.trace_id for o in run.by_fate(*fates) if o.trace_id}


@pytest.mark.parametrize("variant", ["ids", "no-ids"])
def test_lost_messages_certain_rows_are_the_orders_lost_in_the_broker(
    pipeline: Pipeline, variant: str
) -> None:
    run = pipeline(variant)
    with connect(run.dataset) as con:
        lost = con.sql("SELECT * FROM lost_messages").df()
        (sent,) = con.execute("SELECT count(*), count(DISTINCT trace_id) FROM messages").fetchall()
    where = f"{variant}, seed {run.seed}"
    # mes answers 202 after publishing one message: one row per message, however nested.
    published = sum(o.http_status == 202 for o in run.orders)
    assert sent == (published, published), where
    assert lost["trace_id"].is_unique, where
    certain = set(lost.loc[lost["certain"], "trace_id"])
    in_broker = _traces(run, *LOST_IN_BROKER)
    assert in_broker, where
    hits = len(certain & in_broker)
    assert (hits / len(certain), hits / len(in_broker)) == (1.0, 1.0), (where, certain ^ in_broker)
    # The uncertain rows are exactly the orders whose crm telemetry went missing altogether.
    assert set(lost.loc[~lost["certain"], "trace_id"]) == _traces(run, "telemetry_all"), where


@pytest.mark.parametrize("variant", ["ids", "no-ids"])
def test_the_funnel_keeps_business_uncertain_and_telemetry_loss_apart(
    pipeline: Pipeline, variant: str
) -> None:
    run = pipeline(variant)
    with connect(run.dataset) as con:
        orders = funnel_orders(con, flow="workshop").set_index("order_id")
        table = funnel(con, flow="workshop").set_index("step")
    where = f"{variant}, seed {run.seed}"
    outcome = {o.fate: set() for o in run.orders}
    for order in run.orders:
        outcome[order.fate].add(
            (orders.loc[order.trace_id, "outcome"], orders.loc[order.trace_id, "dropped_at"])
        )
    # Rejected orders failed at crm, loudly or quietly; the broker's losses are certain losses
    # where mes published them; HTTP failures failed where they happened.
    assert outcome["rejected_error"] == outcome["rejected_quiet"] == {("failed", "crm")}, where
    assert outcome["expired"] == outcome["unroutable"] == {("lost", "mes")}, where
    assert outcome["failed_mes_api"] == {("failed", "mes-api")}, where
    assert outcome["failed_mes"] == {("failed", "mes")}, where
    # Missing consumer telemetry is never certain business loss: delivered orders whose consumer
    # span is missing still complete (their stored child shows crm took them); with every crm
    # span gone the funnel cannot tell, and says so.
    assert {o for o, _ in outcome["delivered"] | outcome["telemetry_consumer"]} == {"completed"}
    assert outcome["telemetry_all"] == {("uncertain", "queue:orders")}, where
    # The workshop flow is not empty: absent front steps are reported, not zero.
    assert list(table.loc[["internet-shop", "shop-api"], "present"]) == [False, False], where
    assert table.loc[["internet-shop", "shop-api"], "entered"].isna().all(), where
    assert table.loc["mes-api", "entered"] == len(run.orders), where
    certain_loss = table["failed"].sum() + table["lost"].sum()
    truth = len(run.by_fate(*LOST_IN_BROKER, *REJECTED, *FAILED_HTTP))
    assert (certain_loss, table["uncertain"].sum()) == (truth, len(run.by_fate("telemetry_all")))
    assert table.loc["crm", "continued"] == len(run.by_fate("delivered", "telemetry_consumer"))


def test_message_waits_of_a_slow_consumer_are_the_raw_spans_waits(pipeline: Pipeline) -> None:
    run = pipeline("slow")
    with connect(run.dataset) as con:
        spans = con.execute(
            "SELECT trace_id, span_id, parent_span_id, kind, "
            "epoch_us(start_time) AS start_us, epoch_us(end_time) AS end_us FROM span_rows"
        ).df()
        waits = con.execute("SELECT wait_us, destination, consumer_service FROM message_waits").df()
    # From the raw spans: each consumer span's start minus the end of the send span it hangs
    # under (pika's consumer is the child of the inner of its two send spans).
    ends = spans.set_index(["trace_id", "span_id"])["end_us"]
    consumers = spans[spans["kind"] == "consumer"]
    raw = [
        start - ends[(trace, parent)]
        for trace, parent, start in zip(
            consumers["trace_id"], consumers["parent_span_id"], consumers["start_us"], strict=True
        )
    ]
    where = f"slow, seed {run.seed}"
    assert len(raw) == len(waits) == len(run.orders), where
    want = np.quantile(raw, [0.5, 0.95])
    got = np.quantile(waits["wait_us"], [0.5, 0.95])
    assert got.tolist() == want.tolist(), where
    assert want[0] > 1_000_000, where  # a backlog: the median message waited over a second
    assert set(waits["destination"]) == {"orders"} and set(waits["consumer_service"]) == {"crm"}


def test_a_slow_consumer_ranks_first_in_bottlenecks(pipeline: Pipeline) -> None:
    """The order is not done when mes-api answers: crm's backlog (seconds of broker wait) is
    where its time goes, so bottlenecks ranks crm first, its time mostly waiting (issue #15)."""
    run = pipeline("slow")
    where = f"slow, seed {run.seed}"
    with connect(run.dataset) as con:
        ranked = con.execute("SELECT service, cp_share, wait_share FROM bottlenecks").df()
        # per order, the charged time is the order's own end to end: from the entry span's start
        # to the end of the consumer that finished last (each order sends one message here)
        per_order = con.execute(
            "SELECT j.order_id, j.duration_us, sum(c.duration_us) AS charged "
            "FROM journeys AS j JOIN journey_charges AS c ON c.trace_id = j.order_id "
            "GROUP BY ALL"
        ).df()
    assert ranked.iloc[0]["service"] == "crm", f"{where}: {ranked.to_dict('records')}"
    assert ranked.iloc[0]["wait_share"] > 0.5, where
    assert len(per_order) == len(run.orders), where
    assert (per_order["charged"] == per_order["duration_us"]).all(), (
        where,
        per_order[per_order["charged"] != per_order["duration_us"]].head().to_dict("records"),
    )


@pytest.mark.parametrize("variant", ["ids", "no-ids"])
def test_the_stored_cross_trace_results_are_what_the_spans_give(
    pipeline: Pipeline, variant: str
) -> None:
    """The export stored the message fates, joined traces and late charges (each write
    computes them over the whole dataset); on the real instrumentation's spans they equal what
    the view SQL computes from the spans at query time."""
    from tracekit.cross_trace import CROSS_TRACE_VIEWS

    run = pipeline(variant)
    where = f"{variant}, seed {run.seed}"
    with connect(run.dataset) as stored, connect(run.dataset, live=True) as live:
        views = {
            row[0] for row in stored.execute("SELECT view_name FROM duckdb_views()").fetchall()
        }
        for name in CROSS_TRACE_VIEWS:
            assert f"stored_{name}" in views, (where, name)
            rows = [sorted(c.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
                    for c in (stored, live)]  # fmt: skip
            assert rows[0] == rows[1], (where, name)
        (fates,) = stored.execute("SELECT count(*) FROM messages").fetchall()[0]
    assert fates > 0, where
