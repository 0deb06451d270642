"""M/M/c sanity check: one service, exponential service times, Poisson arrivals.

The mean wait (the gap between the caller's client span and the server span) must match the
Erlang C formula. Three simulated hours hold ~227,000 requests; the batch-means standard error
of the mean wait is about 2% there, so 5% is a 2.5-sigma bound and 3% for P(wait) is generous.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import drawn
from tracekit.simulate import simulate

CASE = Path(__file__).parent / "cases" / "simulate" / "mmc.yaml"
ARRIVALS_PER_S, SERVICE_RATE, WORKERS = 21.0, 10.0, 3


def erlang_c(workers: int, arrival_rate: float, service_rate: float) -> float:
    """Probability that an arrival has to wait in an M/M/c queue."""
    offered = arrival_rate / service_rate
    top = offered**workers / math.factorial(workers) / (1 - offered / workers)
    return top / (sum(offered**k / math.factorial(k) for k in range(workers)) + top)


@pytest.mark.slow
def test_mean_wait_matches_erlang_c() -> None:
    result = simulate(CASE, duration_s=3 * 3600, seed=drawn(0), start="2026-01-05T00:00:00Z")
    table = result.table()
    kind = table["kind"].to_numpy(zero_copy_only=False)
    span_id = table["span_id"].to_numpy(zero_copy_only=False)
    parent = table["parent_span_id"].to_numpy(zero_copy_only=False)
    start = table["start_time"].cast("int64").to_numpy()
    client_start = dict(zip(span_id[kind == "client"], start[kind == "client"], strict=True))
    server = kind == "server"
    waits = (start[server] - np.array([client_start[p] for p in parent[server]])) / 1e6

    p_wait = erlang_c(WORKERS, ARRIVALS_PER_S, SERVICE_RATE)
    expected_wait = p_wait / (WORKERS * SERVICE_RATE - ARRIVALS_PER_S)
    assert waits.mean() == pytest.approx(expected_wait, rel=0.05)
    assert (waits > 0).mean() == pytest.approx(p_wait, abs=0.03)
    component = result.truth["components"]["worker"]
    assert component["mean_service_ms"] == pytest.approx(100, rel=0.02)
    assert component["utilization"] == pytest.approx(
        ARRIVALS_PER_S / SERVICE_RATE / WORKERS, rel=0.03
    )
    assert component["arrivals"] == int(server.sum())
