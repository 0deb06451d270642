"""Funnel: where orders and messages are lost, on hand-made cases and on simulated ground truth
(the real pipeline's ground truth is in test_pipeline_rabbitmq.py).

Simulated runs use seeds drawn per session; every assertion names its seed.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.analytics import load_cases, run_case
from tracekit.analytics.funnel import (
    funnel,
    funnel_orders,
    load_flow,
    loss_summary,
    lost_messages,
    telemetry_loss,
)
from tracekit.connect import connect
from tracekit.errors import UserError

CASES = Path(__file__).parent / "cases" / "simulate"
SEED = random.randrange(1_000_000)  # one per session, so each scenario is simulated once


@pytest.mark.parametrize("case", load_cases("funnel"))
def test_funnel_case(case: dict[str, Any], span_dataset: Any) -> None:
    run_case(span_dataset(case["spans"]), case)


def expected_drops(truth: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(order, step it stops at, outcome) for each lost order of the truth, as the workshop
    flow sees it: a failure stops the order where it happened (certain); a message lost in the
    broker at the queue, uncertain (its consumer was at work meanwhile), or at mes when no span
    of the message reached the backend (nothing shows the order got further)."""
    hidden = {m["message_id"] for m in truth["lost_messages"] if not m["visible"]}
    drops = set()
    for order in truth["lost_orders"]:
        if order["trace_id"] is None:
            continue  # failed before reaching any instrumented service
        if order["reason"].startswith("message_"):
            step = "mes" if order["message_id"] in hidden else order["component"]
            drops.add((order["trace_id"], step, "uncertain"))
        else:
            drops.add((order["trace_id"], order["component"], "failed"))
    return drops


def _dropped(con: Any) -> set[tuple[str, str, str]]:
    orders = funnel_orders(con, flow="workshop")
    dropped = orders[~orders["completed"]]
    return set(zip(dropped["order_id"], dropped["dropped_at"], dropped["outcome"], strict=True))


@pytest.fixture(scope="module")
def queue_loss(simulated: Any) -> Any:
    path, truth = simulated("queue-loss", hours=1, seed=SEED)
    con = connect(path)
    yield con, truth
    con.close()


def test_lost_messages_are_the_visible_truth(queue_loss: Any) -> None:
    con, truth = queue_loss
    got = lost_messages(con)
    want = {(m["trace_id"], m["message_id"]) for m in truth["lost_messages"] if m["visible"]}
    assert want, SEED  # the scenario loses messages
    # One row per message although every publish is two nested producer spans.
    assert len(got) == len(want), SEED
    assert set(zip(got["trace_id"], got["message_id"], strict=True)) == want, SEED
    # order-queue consumed the queue all along: each loss may as well be missing telemetry.
    assert not got["certain"].any(), SEED


def test_funnel_stops_each_lost_order_where_the_truth_lost_it(queue_loss: Any) -> None:
    con, truth = queue_loss
    table = funnel(con, flow="workshop").set_index("step")
    assert table.loc["internet-shop", "entered"] == truth["orders"], SEED
    assert _dropped(con) == expected_drops(truth), SEED
    want = Counter(step for _, step, _ in expected_drops(truth))
    assert want["queue:orders"] > 0, SEED
    assert table["dropped"][table["dropped"] > 0].to_dict() == dict(want), SEED


def test_telemetry_loss_is_not_business_loss(queue_loss: Any) -> None:
    con, truth = queue_loss
    loss = telemetry_loss(con)
    assert truth["orphaned_spans"] > 0, SEED
    assert (loss["kind"] == "orphan_span").sum() == truth["orphaned_spans"], SEED
    summary = loss_summary(con).set_index("kind")["count"].to_dict()
    summary.pop("trace_without_root")  # operators' calls whose mes root span was dropped
    drops = Counter(outcome for _, _, outcome in expected_drops(truth))
    visible = sum(m["visible"] for m in truth["lost_messages"])
    assert summary == {
        "failed_orders": drops["failed"],
        "lost_orders": 0,
        "lost_messages": 0,
        "uncertain_orders": drops["uncertain"],
        "uncertain_messages": visible,
        "orphan_span": truth["orphaned_spans"],
    }, SEED


def test_messages_no_span_shows_are_marked_in_the_truth(simulated: Any) -> None:
    path, truth = simulated(str(CASES / "hidden-losses.yaml"), hours=1, seed=SEED)
    hidden = [m for m in truth["lost_messages"] if not m["visible"]]
    assert hidden, SEED  # ~30% of mes's spans are dropped: some lost messages go unseen
    with connect(path) as con:
        got = set(lost_messages(con)["message_id"])
        assert got == {m["message_id"] for m in truth["lost_messages"] if m["visible"]}, SEED
        assert _dropped(con) == expected_drops(truth), SEED


@pytest.mark.parametrize(
    ("scenario", "traces_per_order"), [("baseline", 1), ("api-errors", 2), ("mes-saturated", 1)]
)
def test_funnel_follows_the_consumer_however_it_is_recorded(
    scenario: str, traces_per_order: int, simulated: Any
) -> None:
    """baseline and mes-saturated record the consumer as the producer's child (pika); api-errors
    in a trace of its own, linked to the producer span (OpenTelemetry's default)."""
    path, truth = simulated(scenario, hours=1, seed=SEED)
    with connect(path) as con:
        orders = funnel_orders(con, flow="workshop")
        assert (orders["trace_ids"].map(len) == traces_per_order).mean() > 0.9, SEED
        assert _dropped(con) == expected_drops(truth), SEED


def test_workshop_flow_on_the_architecture_decisions_coverage(simulated: Any) -> None:
    """internet-shop, shop-api and crm send nothing: the front of the flow is reported absent,
    orders are counted from mes-api, and crm is seen through the consumer's calls to it."""
    path, truth = simulated("adr-coverage", hours=1, seed=SEED)
    with connect(path) as con:
        table = funnel(con, flow="workshop").set_index("step")
        assert list(table["present"]) == [False, False, True, True, True, True], SEED
        assert table.loc[["internet-shop", "shop-api"], "entered"].isna().all(), SEED
        unseen = sum(order["trace_id"] is None for order in truth["lost_orders"])
        assert table.loc["mes-api", "entered"] == truth["orders"] - unseen > 0, SEED
        assert table.loc["crm", "continued"] > 0.9 * truth["orders"], SEED
        assert _dropped(con) == expected_drops(truth), SEED


def test_unknown_steps_are_one_line_errors(queue_loss: Any) -> None:
    con, _ = queue_loss
    with pytest.raises(UserError) as error:
        funnel(con, ["shop-api", "crmm"])
    assert str(error.value) == (
        "funnel: step 'crmm' matches nothing in the data (services: crm, internet-shop, mes, "
        "mes-api, model-storage, order-queue, shop-api; queues: queue:orders)"
    )


def test_load_flow_errors(tmp_path: Path) -> None:
    assert load_flow("workshop").steps[-2:] == ("queue:orders", "crm")
    with pytest.raises(UserError, match="unknown flow 'nope'"):
        load_flow("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [shop, 3]\n")
    with pytest.raises(UserError, match=r"bad.yaml: steps\[1\]"):
        load_flow(bad)
    good = tmp_path / "mine.yaml"
    good.write_text("steps: [shop, 'mes:plan', 'queue:orders']\n")
    assert load_flow(good).steps == ("shop", "mes:plan", "queue:orders")
