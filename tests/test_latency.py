"""Latency distributions: hand-computed data-file cases and simulated workshop data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.plugins.analytics import load_cases, run_case
from tracekit.analytics.latency import (
    latency_ecdf,
    latency_histogram,
    latency_over_time,
    latency_summary,
)
from tracekit.connect import connect
from tracekit.errors import UserError


@pytest.mark.parametrize("case", load_cases("latency"))
def test_latency_case(case: dict[str, Any], span_dataset: Any) -> None:
    run_case(span_dataset(case["spans"]), case)


@pytest.fixture(scope="module")
def workshop(simulated: Any) -> Any:
    path, truth = simulated("queue-loss", hours=1, seed=1)
    con = connect(path)
    yield con
    con.close()


def test_summary_counts_every_entry_span(workshop: Any) -> None:
    by_service = latency_summary(workshop)
    # Each server span and consumer span is an entry; every order crosses mes-api once.
    entries = workshop.execute(
        "SELECT count(*) FROM spans WHERE service = 'mes-api' AND kind = 'server'"
    ).fetchall()[0][0]
    assert by_service.set_index("service").loc["mes-api", "spans"] == entries
    by_op = latency_summary(workshop, by="operation")
    total = workshop.execute("SELECT count(*) FROM spans").fetchall()[0][0]
    assert by_op["spans"].sum() == total
    ordered = by_op[["p50_us", "p90_us", "p95_us", "p99_us", "max_us"]]
    assert (ordered.diff(axis=1).iloc[:, 1:] >= 0).all().all()


def test_approximate_quantiles_are_close_to_exact(workshop: Any) -> None:
    exact = latency_summary(workshop, by="operation").set_index(["service", "operation"])
    approx = latency_summary(workshop, by="operation", approximate=True).set_index(
        ["service", "operation"]
    )
    assert (exact["spans"] == approx["spans"]).all()
    big = exact["spans"] >= 300
    ratio = approx.loc[big, "p50_us"] / exact.loc[big, "p50_us"]
    assert ratio.between(0.9, 1.1).all(), ratio


def test_over_time_buckets_add_up(workshop: Any) -> None:
    per_bucket = latency_over_time(workshop, timedelta(minutes=10))
    overall = latency_summary(workshop)
    assert per_bucket.groupby("service")["spans"].sum().to_dict() == dict(
        zip(overall["service"], overall["spans"], strict=True)
    )
    assert per_bucket["bucket_start"].nunique() >= 6
    assert latency_over_time(workshop, "10 minutes").equals(per_bucket)


def test_histogram_and_ecdf_agree(workshop: Any) -> None:
    hist = latency_histogram(workshop, bins=30)
    summary = latency_summary(workshop).set_index("service")
    assert hist.groupby("service")["spans"].sum().to_dict() == summary["spans"].to_dict()
    last = hist.groupby("service")["cumulative_share"].last()
    assert (last.round(6) == 1.0).all()
    ecdf = latency_ecdf(workshop, points=4)
    medians = ecdf[ecdf["share"] == 0.5].set_index("service")["duration_us"]
    assert (medians == summary["p50_us"]).all()


def test_bad_arguments_are_user_errors(workshop: Any) -> None:
    with pytest.raises(UserError, match="by"):
        latency_summary(workshop, by="host")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="bucket"):
        latency_over_time(workshop, "soon")
    with pytest.raises(UserError, match="bins"):
        latency_histogram(workshop, bins=0)
