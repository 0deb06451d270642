"""``uninstrumented`` services (the architecture decision's real coverage) change only telemetry."""

from __future__ import annotations

from tests.conftest import drawn
from tracekit.simulate import simulate

START = "2026-01-05T17:00:00Z"


def test_adr_coverage_shows_only_the_instrumented_services() -> None:
    result = simulate("adr-coverage", duration_s=2 * 3600, seed=drawn(13), start=START)
    rows = result.table().to_pylist()
    assert {row["service"] for row in rows} == {"mes-api", "mes", "order-queue"}
    by_id = {row["span_id"]: row for row in rows}
    children = {row["parent_span_id"] for row in rows if row["parent_span_id"]}
    traces = {row["trace_id"] for row in rows}
    for row in rows:
        if row["service"] == "mes-api" and row["kind"] == "server":
            # No context comes from the uninstrumented shop-api: an order's telemetry starts here.
            assert row["parent_span_id"] is None
        if row["kind"] == "client" and row["operation"].startswith(("GET /models", "POST /api")):
            # Calls into model-storage and crm have no server side in the data.
            assert row["span_id"] not in children
        if row["kind"] == "consumer":
            # The consumer continues the context the producer put into the message (baseline's
            # shape: as its child, in the order's trace).
            assert by_id[row["parent_span_id"]]["kind"] == "producer"
    assert all(row["parent_span_id"] in by_id for row in rows if row["parent_span_id"])
    for lost in result.truth["lost_orders"]:
        if lost["trace_id"] is None:
            # Failed before reaching anything instrumented: invisible to tracing.
            assert lost["component"] in ("internet-shop", "shop-api")
        else:
            assert lost["trace_id"] in traces


def test_instrumentation_does_not_change_what_happened() -> None:
    seen = simulate("adr-coverage", duration_s=3600, seed=drawn(14), start=START).truth
    full = simulate("baseline", duration_s=3600, seed=drawn(14), start=START).truth
    assert seen["components"] == full["components"]
    assert seen["orders"] == full["orders"]
    assert [(lo["component"], lo["reason"]) for lo in seen["lost_orders"]] == [
        (lo["component"], lo["reason"]) for lo in full["lost_orders"]
    ]
