"""Window metrics, workers and the CLI on hand-made datasets whose answers are worked out here."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest

import tracekit
from tests.cli import assert_user_error, run
from tests.spanrows import span, table
from tracekit.capacity import capacity_plan, load_workers_file, window_metrics
from tracekit.dataset import write_spans
from tracekit.errors import UserError

MS = 1000


def on(row: dict, instance: str) -> dict:
    row["resource"] = [("service.name", row["service"]), ("service.instance.id", instance)]
    return row


@pytest.fixture
def hand_made(dataset: Path) -> Path:
    """web calls api three times; api runs on two instances; mes publishes, order-queue consumes.

    api spans (ms): S1 200-600 on api-1 (its client C1 100-700, and S1 calls db 300-400),
    S2 300-500 on api-1 (C2 250-550), S3 400-900 on api-2 (C3 350-950).
    """
    rows = [
        on(span("a", "w1", None, "web", 0, 1000 * MS), "web-1"),
        on(span("a", "c1", "w1", "web", 100 * MS, 600 * MS, kind="client"), "web-1"),
        on(span("a", "s1", "c1", "api", 200 * MS, 400 * MS), "api-1"),
        on(span("a", "d1", "s1", "api", 300 * MS, 100 * MS, kind="client"), "api-1"),
        on(span("a", "db1", "d1", "db", 310 * MS, 80 * MS), "db-1"),
        on(span("b", "c2", None, "web", 250 * MS, 300 * MS, kind="client"), "web-1"),
        on(span("b", "s2", "c2", "api", 300 * MS, 200 * MS), "api-1"),
        on(span("c", "c3", None, "web", 350 * MS, 600 * MS, kind="client"), "web-2"),
        on(span("c", "s3", "c3", "api", 400 * MS, 500 * MS), "api-2"),
        on(span("d", "m1", None, "mes", 0, 20 * MS), "mes-1"),
        on(span("d", "p1", "m1", "mes", 5 * MS, 10 * MS, kind="producer"), "mes-1"),
        on(
            span(
                "e",
                "q1",
                None,
                "order-queue",
                55 * MS,
                30 * MS,
                kind="consumer",
                links=[{"trace_id": "d", "span_id": "p1", "kind": "follows_from"}],
            ),
            "oq-1",
        ),
    ]
    write_spans(dataset, [table(rows)], source={"kind": "test"})
    return dataset


def test_window_metrics_by_hand(hand_made: Path) -> None:
    frame = window_metrics(hand_made, window_s=300).set_index("service")
    api = frame.loc["api"]
    assert api["arrivals"] == 3
    # the data covers 0-1000 ms of the 5-minute window: rates are over that second, not 300 s
    assert api["covered_s"] == pytest.approx(1.0)
    assert api["arrival_rate_per_s"] == pytest.approx(3.0)
    assert api["mean_service_ms"] == pytest.approx((400 + 200 + 500) / 3)
    assert api["mean_self_ms"] == pytest.approx((300 + 200 + 500) / 3)  # S1 waits 100 on db
    # client time outside the server span: 600-400, 300-200, 600-500
    assert api["mean_wait_ms"] == pytest.approx((200 + 100 + 100) / 3)
    assert api["observed_calls"] == 3
    # Little's law: 1.1 s of work in the 1 s the data covers
    assert api["concurrency"] == pytest.approx(1.1)
    # S1 and S2 overlap on api-1 (2 at once), S3 alone on api-2: at least 3 workers, but no
    # call waited while they were busy, so that is only a lower bound: no utilization
    assert api["max_overlap"] == 3
    assert api["workers"] == 3 and api["instances"] == 2
    assert api["workers_source"] == "none seen"
    assert pd.isna(api["utilization"])
    # The consumer waited in the queue from the producer's end (15 ms) to its start (55 ms)
    queue = frame.loc["order-queue"]
    assert queue["mean_wait_ms"] == pytest.approx(40)
    assert queue["p95_caller_ms"] == pytest.approx(70)
    # db: one call; its client d1 took 100 ms around 80 ms of work
    assert frame.loc["db", "mean_wait_ms"] == pytest.approx(20)
    # roots have no caller to see a wait
    assert frame.loc["web", "observed_calls"] == 0
    assert frame.loc["web", "arrivals"] == 1


def test_windows_split_by_time(dataset: Path) -> None:
    rows = [
        on(span(f"t{i}", "s", None, "api", i * 200 * 1000 * MS, 10 * MS), "api-1") for i in range(4)
    ]  # at 0, 200, 400, 600 s
    write_spans(dataset, [table(rows)], source={"kind": "test"})
    frame = window_metrics(dataset, window_s=300)
    assert frame["arrivals"].tolist() == [2, 1, 1]


def test_workers_file_overrides(hand_made: Path, tmp_path: Path) -> None:
    path = tmp_path / "workers.yaml"
    path.write_text("workers:\n  api: 12\n")
    assert load_workers_file(path) == {"api": 12}
    frame = window_metrics(hand_made, workers={"api": 12}).set_index("service")
    assert frame.loc["api", "workers"] == 12
    assert frame.loc["api", "workers_source"] == "file"
    assert frame.loc["api", "utilization"] == pytest.approx(1.1 / 12)
    assert frame.loc["db", "workers_source"] == "none seen"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("api: 0\n", "positive integer"),
        ("- api\n", "mapping"),
        ("api: [1\n", "malformed YAML"),
        ("api: two\n", "positive integer"),
    ],
)
def test_bad_workers_files(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=needle):
        load_workers_file(path)


def test_plan_on_hand_made(hand_made: Path) -> None:
    plan = capacity_plan(hand_made, multipliers=[1, 2], workers={"api": 3})
    assert set(plan.table["multiplier"]) == {1.0, 2.0}
    api = plan.table[(plan.table["service"] == "api") & (plan.table["multiplier"] == 2)].iloc[0]
    # 1.1 s of work in the 1 s the data covers, on 3 workers, twice the load
    assert api["utilization"] == pytest.approx(2 * 1.1 / 3, rel=0.01)
    assert not api["saturated"]
    # the busiest period reaches 1 at 3 / 1.1 times the load (api calls db, whose limit is not
    # known, so no wait is invented there)
    assert api["saturation_multiplier"] == pytest.approx(3 / 1.1, rel=0.01)
    assert plan.first_to_saturate == "api"
    # three arrivals say little: the band's upper end is open (None)
    assert api["saturation_low"] < api["saturation_multiplier"]
    assert api["saturation_high"] is None
    # web's own limit is unknown (no utilization), but it waits for api: it saturates with it
    web = plan.table[(plan.table["service"] == "web") & (plan.table["multiplier"] == 2)].iloc[0]
    assert pd.isna(web["utilization"]) and not web["workers_known"]
    assert web["saturation_multiplier"] == api["saturation_multiplier"]
    assert "with api" in web["saturation"]
    # db is called by api and waits for nobody: its limit unknown, only a bound
    db = plan.table[(plan.table["service"] == "db") & (plan.table["multiplier"] == 2)].iloc[0]
    assert pd.isna(db["saturation_multiplier"]) and db["saturation_at_least"] > 0
    assert db["saturation"].startswith(("limit unknown", "not reached"))


def test_cli_formats(hand_made: Path) -> None:
    proc = run(
        "capacity",
        str(hand_made),
        "--multipliers",
        "1,2",
        "--slo-p95-ms",
        "2000",
        "--format",
        "csv",
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    for column in (
        "service",
        "multiplier",
        "utilization",
        "p50_ms",
        "p95_ms",
        "saturated",
        "saturation_multiplier",
        "workers_needed",
    ):
        assert column in rows[0]
    assert {r["service"] for r in rows} == {"web", "api", "db", "mes", "order-queue"}
    assert len(rows) == 10
    as_json = json.loads(run("capacity", str(hand_made), "--format", "json").stdout)
    assert {r["multiplier"] for r in as_json} == {1.0, 2.0, 5.0, 10.0}
    text = run("capacity", str(hand_made), "--multipliers", "3").stdout
    assert "(5 rows)" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--multipliers", "1,x"], "--multipliers"),
        (["--multipliers", "0"], "--multipliers"),
        (["--slo-p95-ms", "-5"], "--slo-p95-ms"),
        (["--workers", "/nonexistent.yaml"], "workers"),
        (["--format", "xml"], "format"),
        (["--model", "G/G/1"], "model"),
        (["--window", "0"], "--window"),
    ],
)
def test_cli_bad_flags(hand_made: Path, args: list[str], needle: str) -> None:
    assert_user_error(run("capacity", str(hand_made), *args), needle)


def test_cli_bad_workers_file(hand_made: Path, tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("api: -1\n")
    assert_user_error(run("capacity", str(hand_made), "--workers", str(path)), str(path), "api")


def test_cli_not_a_dataset(tmp_path: Path) -> None:
    assert_user_error(run("capacity", str(tmp_path)), "no tracekit dataset")


def test_cli_dataset_without_work_spans(dataset: Path) -> None:
    write_spans(
        dataset,
        [table([span("t", "c", None, "web", 0, 10, kind="client")])],
        source={"kind": "test"},
    )
    assert_user_error(run("capacity", str(dataset)), "no server or consumer spans")


def test_cli_workers_file_is_used(hand_made: Path, tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("api: 9\n")
    rows = json.loads(
        run(
            "capacity",
            str(hand_made),
            "--multipliers",
            "1",
            "--workers",
            str(path),
            "--format",
            "json",
        ).stdout
    )
    api = next(r for r in rows if r["service"] == "api")
    assert api["workers"] == 9 and api["workers_known"] is True


def test_real_jaeger_traces(eval_dir: Path, dataset: Path) -> None:
    """Traces from Jaeger and its UI (made by real instrumentation) plan without surprises: a
    handful of unrelated traces show no request waiting, so no limit is invented and no
    component is named first to saturate, but the components that could be are."""
    files = sorted((eval_dir / "jaeger-ui" / "trace-statistics").glob("*.json"))
    files = [f for f in files if f.name != "expected_self_us.json"]
    files.append(eval_dir / "jaeger-ui" / "otlp2jaeger-multi-in-combined.json")
    proc = run("import", *map(str, files), "--out", str(dataset))
    assert proc.returncode == 0, proc.stderr
    plan = capacity_plan(dataset, [1, 2])
    assert len(plan.table) == 2 * plan.table["service"].nunique() > 0
    assert not plan.limits["known"].any(), plan.limits
    assert plan.first_to_saturate is None
    assert plan.first is not None and plan.first.could_be_earlier
    assert plan.notes and all(name in plan.notes[-1] for name, _ in plan.first.could_be_earlier)
    con = tracekit.connect(dataset)
    [(work,)] = con.execute(
        "SELECT count(*) FROM spans WHERE kind IN ('server', 'consumer')"
    ).fetchall()
    # plus the calls of a leaf: client spans of a service doing no server work, made under
    # another service's span, that nothing answered
    [(leaf,)] = con.execute(
        "SELECT count(*) FROM spans AS c JOIN spans AS p "
        "  ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id "
        "WHERE c.kind = 'client' AND p.service <> c.service "
        "  AND c.service NOT IN (SELECT service FROM spans WHERE kind IN ('server', 'consumer')) "
        "  AND NOT EXISTS (SELECT 1 FROM spans AS s WHERE s.trace_id = c.trace_id "
        "                  AND s.parent_span_id = c.span_id AND s.kind = 'server')"
    ).fetchall()
    assert plan.windows["arrivals"].sum() == work + leaf
