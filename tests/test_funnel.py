"""Drops: funnel, lost messages and telemetry loss on hand-made cases and simulated ground
truth."""

from __future__ import annotations

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


@pytest.mark.parametrize("case", load_cases("funnel"))
def test_funnel_case(case: dict[str, Any], span_dataset: Any) -> None:
    run_case(span_dataset(case["spans"]), case)


@pytest.fixture(scope="module")
def queue_loss(simulated: Any) -> Any:
    path, truth = simulated("queue-loss", hours=1, seed=1)
    con = connect(path)
    yield con, truth
    con.close()


def test_lost_messages_equal_truth(queue_loss: Any) -> None:
    con, truth = queue_loss
    got = {(r.trace_id, r.message_id) for r in lost_messages(con).itertuples()}
    want = {(m["trace_id"], m["message_id"]) for m in truth["lost_messages"]}
    assert want  # the scenario loses messages
    assert got == want


def test_funnel_drops_equal_truth_lost_orders(queue_loss: Any) -> None:
    con, truth = queue_loss
    table = funnel(con, flow="workshop").set_index("step")
    want = Counter(o["component"] for o in truth["lost_orders"])
    assert want["order-queue"] > 0
    assert table["dropped"][table["dropped"] > 0].to_dict() == dict(want)
    assert table.loc["internet-shop", "entered"] == truth["orders"]
    # And order by order: each lost order dropped at the component the truth names.
    orders = funnel_orders(con, flow="workshop")
    dropped = orders[orders["dropped_at"].notna()]
    assert sorted(zip(dropped["order_id"], dropped["dropped_at"], strict=True)) == sorted(
        (o["trace_id"], o["component"]) for o in truth["lost_orders"]
    )


def test_telemetry_loss_is_not_business_loss(queue_loss: Any) -> None:
    con, truth = queue_loss
    loss = telemetry_loss(con)
    assert truth["orphaned_spans"] > 0
    assert (loss["kind"] == "orphan_span").sum() == truth["orphaned_spans"]
    summary = loss_summary(con).set_index("kind")["count"]
    assert summary["lost_orders"] == len(truth["lost_orders"])
    assert summary["lost_messages"] == len(truth["lost_messages"])


# Seeds shared with other test files, so the session simulates each dataset once.
@pytest.mark.parametrize(
    ("scenario", "seed"), [("baseline", 2), ("api-errors", 3), ("mes-saturated", 1)]
)
def test_funnel_follows_links_to_consumer_traces(scenario: str, seed: int, simulated: Any) -> None:
    """In these scenarios the consumer starts its own trace, linked to the producer span."""
    path, truth = simulated(scenario, hours=1, seed=seed)
    with connect(path) as con:
        orders = funnel_orders(con, flow="workshop")
    assert (orders["trace_ids"].map(len) == 2).sum() > 0.9 * len(orders)
    dropped = orders[orders["dropped_at"].notna()]
    assert sorted(zip(dropped["order_id"], dropped["dropped_at"], strict=True)) == sorted(
        (o["trace_id"], o["component"]) for o in truth["lost_orders"]
    )


def test_load_flow_errors(tmp_path: Path) -> None:
    assert load_flow("workshop").steps[-1] == "crm"
    with pytest.raises(UserError, match="unknown flow 'nope'"):
        load_flow("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [shop, 3]\n")
    with pytest.raises(UserError, match=r"bad.yaml: steps\[1\]"):
        load_flow(bad)
    good = tmp_path / "mine.yaml"
    good.write_text("steps: [shop, 'mes:plan']\n")
    assert load_flow(good).steps == ("shop", "mes:plan")
