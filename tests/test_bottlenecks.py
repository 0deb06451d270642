"""Bottlenecks and N+1: hand-computed data-file cases, the jaeger-skills captures and the
simulator's ground truth."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.analytics import load_cases, run_case
from tests.plugins.critical_path import eval_table, rows_connection
from tracekit.analytics.bottlenecks import bottlenecks, slow_attributes
from tracekit.analytics.critical_path import critical_path, critical_path_by_operation
from tracekit.analytics.n_plus_one import n_plus_one, n_plus_one_summary
from tracekit.connect import connect
from tracekit.errors import UserError


@pytest.mark.parametrize("case", load_cases("bottlenecks") + load_cases("n_plus_one"))
def test_case(case: dict[str, Any], span_dataset: Any) -> None:
    run_case(span_dataset(case["spans"]), case)


@pytest.fixture(scope="module")
def saturated(simulated: Any) -> Any:
    path, truth = simulated("mes-saturated", hours=1, seed=1)
    con = connect(path)
    yield con, truth
    con.close()


def test_saturated_mes_ranks_first(saturated: Any) -> None:
    """On mes-saturated the simulator's truth names the bottleneck; bottlenecks ranks it 1."""
    con, truth = saturated
    ranked = bottlenecks(con)
    assert ranked.iloc[0]["service"] == truth["bottleneck"] == "mes"
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    # Orders queue in front of MES's workers: the wait is charged to mes, not to mes-api.
    mes = ranked.set_index("service").loc["mes"]
    assert mes["wait_us"] > 0 and mes["cp_share_slow"] > 0.5
    assert ranked["cp_share"].sum() == pytest.approx(1.0, abs=1e-4)
    # every order's critical path, carried past its entry trace to its messages' consumers
    total = con.execute("SELECT sum(duration_us) FROM journey_charges").fetchall()[0][0]
    assert ranked["cp_us"].sum() == total
    sync = con.execute("SELECT sum(duration_us) FROM critical_path").fetchall()[0][0]
    assert total >= sync


def test_python_functions_and_windows(saturated: Any) -> None:
    con, _ = saturated
    by_op = bottlenecks(con, by="operation")
    assert by_op.iloc[0][["service", "operation"]].tolist() == ["mes", "POST /production-orders"]
    recent = bottlenecks(con, since=timedelta(minutes=20))
    assert recent["traces"].max() < bottlenecks(con)["traces"].max()
    first, last = con.execute("SELECT min(start_time), max(start_time) FROM traces").fetchall()[0]
    assert bottlenecks(con, since=last + timedelta(seconds=1)).empty
    assert bottlenecks(con, since=first.isoformat() + "Z")["cp_us"].sum() == (
        bottlenecks(con)["cp_us"].sum()
    )
    per_op = critical_path_by_operation(con)
    assert per_op["cp_share"].sum() == pytest.approx(1.0, abs=1e-4)
    trace = con.execute("SELECT trace_id FROM traces LIMIT 1").fetchall()[0][0]
    assert set(critical_path(con, trace)["trace_id"]) == {trace}
    attributes = slow_attributes(con)
    assert (attributes["slow_traces"] >= 5).all() and not attributes.empty
    assert list(attributes["difference"]) == sorted(attributes["difference"], reverse=True)
    # a smaller baseline sample is still a baseline of the same kinds of request
    sampled = slow_attributes(con, baseline_sample=50)
    assert not sampled.empty and (sampled["baseline_traces"] <= 50).all()
    # the N+1 the scenario models: model parts fetched one request at a time
    summary = n_plus_one_summary(con).set_index(["caller", "service", "operation"])
    assert ("mes", "model-storage", "GET /models/{model_id}/parts/{part_id}") in summary.index
    assert (n_plus_one(con)["calls"] >= 5).all()
    with pytest.raises(UserError):
        bottlenecks(con, by="host")  # type: ignore[arg-type]
    with pytest.raises(UserError):
        bottlenecks(con, since="yesterday")
    with pytest.raises(UserError):
        slow_attributes(con, min_traces=0)
    with pytest.raises(UserError):
        slow_attributes(con, quantile=1.5)


NPLUSONE = [
    "n_plus_one_positive",
    "n_plus_one_full_serial",
    "n_plus_one_near_miss",
    "n_plus_one_full_concurrent",
]


@pytest.mark.parametrize("name", NPLUSONE)
def test_jaeger_skills_n_plus_one(name: str, eval_dir: Path) -> None:
    """The labelled group is flagged exactly when the manifest says the pattern is present.

    Calls are grouped by what they call, so where the manifest's group (siblings with one span
    name) calls two services, the run is the calls of one of them: in the -W 1 capture the 10
    route calls, without the customer lookup that shares their name `HTTP GET` (which the
    near-miss manifest's own "grouping" note says is not one group with them).
    """
    folder = eval_dir / "jaeger-skills"
    manifest = json.loads((folder / f"{name}.manifest.json").read_text())
    expected = manifest["expected"]
    con = rows_connection(eval_table(folder / f"{name}.json"))
    rows = con.execute(
        "SELECT calls, wall_us, sum_us FROM n_plus_one WHERE parent_span_id = $p",
        {"p": expected["parent_span_id"]},
    ).fetchall()
    if not manifest["pattern_present"]:
        assert rows == []
        return
    # the manifest's group, less calls answered by the customer service
    group = con.execute(
        "SELECT count(*), epoch_us(max(end_time)) - epoch_us(min(start_time)), sum(duration_us) "
        "FROM span_rows AS s WHERE parent_span_id = $p AND service = $s AND operation = $o "
        "AND NOT EXISTS (SELECT 1 FROM span_rows AS c WHERE c.trace_id = s.trace_id "
        "AND c.parent_span_id = s.span_id AND c.service = 'customer')",
        {"p": expected["parent_span_id"], "s": expected["service"], "o": expected["operation"]},
    ).fetchall()[0]
    assert rows == [group]
    if group[0] == expected["siblings"]:  # nothing taken out: the manifest's own figures
        calls, wall_us, sum_us = rows[0]
        assert round(wall_us / 1000, 1) == expected["wall_ms"]
        assert round(sum_us / 1000, 1) == expected["sum_of_durations_ms"]
    else:
        assert group[0] == expected["siblings"] - 1 == 10


def test_full_concurrent_still_has_its_genuine_n_plus_one(eval_dir: Path) -> None:
    """The whole-trace negative holds a real N+1 elsewhere (13 serial GetDriver calls)."""
    con = rows_connection(
        eval_table(eval_dir / "jaeger-skills" / "n_plus_one_full_concurrent.json")
    )
    assert con.execute("SELECT caller, service, operation, calls FROM n_plus_one").fetchall() == [
        ("driver", "redis-manual", "GetDriver", 13)
    ]
