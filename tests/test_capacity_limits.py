"""Concurrency limits inferred from spans, on queues whose truth is known: requests drawn at
random (seed printed in every message), served first come, first served by c workers in this
file's own simulation, and recorded as instrumentation records them (lock events, a client span
around a server span, a message waiting in a broker, or a span that hides its wait)."""

from __future__ import annotations

import datetime as dt
import heapq
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.spanrows import EPOCH, span, table
from tracekit.capacity import capacity_plan
from tracekit.dataset import write_spans

MS = 1000


@dataclass
class Served:
    """One request of the simulation: when it arrived, began service and left (us)."""

    arrival: int
    begin: int
    end: int


def serve(arrivals: list[int], services: list[int], workers: int) -> list[Served]:
    """First come, first served on ``workers`` workers (the test's own oracle)."""
    free = [0] * workers
    out = []
    for arrival, service in zip(arrivals, services, strict=True):
        begin = max(arrival, free[0])
        heapq.heapreplace(free, begin + service)
        out.append(Served(arrival, begin, begin + service))
    return out


def poisson(rng: random.Random, rate_per_s: float, seconds: float) -> list[int]:
    times, now = [], rng.expovariate(rate_per_s)
    while now < seconds:
        times.append(int(now * 1e6))
        now += rng.expovariate(rate_per_s)
    return times


def event(at_us: int, name: str) -> dict:
    return {"time": EPOCH + dt.timedelta(microseconds=at_us), "name": name, "attributes": []}


def lock_dataset(path: Path, served: list[Served], *, events: bool = True) -> None:
    """api server spans, each holding a `db` client span that waits for a lock (HotROD's
    shape: the client span's own service is the database, under the caller's span)."""
    rows = []
    for i, s in enumerate(served):
        trace = f"t{i}"
        rows.append(span(trace, "a", None, "api", s.arrival - 2 * MS, s.end - s.arrival + 4 * MS))
        db = span(trace, "d", "a", "db", s.arrival, s.end - s.arrival, kind="client")
        if events:
            waiting = [event(s.arrival, "Waiting for lock behind 1 transactions")]
            db["events"] = (waiting if s.begin > s.arrival else []) + [
                event(s.begin, "Acquired lock")
            ]
        rows.append(db)
    write_spans(path, [table(rows)], source={"kind": "test"})


def pool_dataset(path: Path, served: list[Served], network_us: int = 500) -> None:
    """web calls pool: web's client span from the request's arrival to the answer, pool's
    server span only while a worker serves it (the wait is the gap between the two)."""
    rows = []
    for i, s in enumerate(served):
        trace = f"t{i}"
        total = s.end - s.arrival + 2 * network_us
        rows.append(span(trace, "w", None, "web", s.arrival - MS, total + 2 * MS))
        rows.append(span(trace, "c", "w", "web", s.arrival, total, kind="client"))
        rows.append(span(trace, "p", "c", "pool", s.begin + network_us, s.end - s.begin))
    write_spans(path, [table(rows)], source={"kind": "test"})


def broker_dataset(path: Path, served: list[Served]) -> None:
    """mes publishes each message (a producer span ending at the arrival), crm consumes it
    when a consumer is free (a consumer span linked to the producer)."""
    rows = []
    for i, s in enumerate(served):
        rows.append(span(f"p{i}", "m", None, "mes", s.arrival - 3 * MS, 4 * MS))
        rows.append(span(f"p{i}", "s", "m", "mes", s.arrival - MS, MS, kind="producer"))
        rows.append(
            span(
                f"c{i}",
                "k",
                None,
                "crm",
                s.begin,
                s.end - s.begin,
                kind="consumer",
                links=[{"trace_id": f"p{i}", "span_id": "s", "kind": "follows_from"}],
            )
        )
    write_spans(path, [table(rows)], source={"kind": "test"})


@pytest.fixture
def seed() -> int:
    value = random.randrange(2**32)
    print(f"seed {value}")
    return value


def limit_of(path: Path, component: str):
    plan = capacity_plan(path, [1.0])
    return plan, plan.limits.set_index("component").loc[component]


@pytest.mark.parametrize("workers", [1, 2])
def test_lock_events_give_the_limit_and_split_wait_from_service(
    dataset: Path, seed: int, workers: int
) -> None:
    rng = random.Random(seed)
    arrivals = poisson(rng, 0.7 * workers / 0.3, 120)
    served = serve(arrivals, [int(rng.gauss(300, 30) * MS) for _ in arrivals], workers)
    lock_dataset(dataset, served)
    plan, db = limit_of(dataset, "db")
    where = f"seed {seed}: {db.to_dict()}"
    assert db["workers"] == workers and db["source"] == "lock waits", where
    assert db["confidence"] == "high", where
    # waits under a millisecond are not counted (limits.QUEUED_MIN_S)
    waited = sum(s.begin - s.arrival > MS for s in served)
    assert db["waits"] == waited, where
    # the wait inside the span is not service: the service time is the hold alone
    models = plan.models.set_index("service")
    hold = np.mean([s.end - s.begin for s in served]) / MS
    assert models.loc["db", "mean_service_ms"] == pytest.approx(hold, rel=1e-3), where
    # api's own spans pile up behind the lock, but nothing shows api waiting itself
    assert plan.limits.set_index("component").loc["api", "source"] == "none seen", where


def test_a_hidden_lock_shows_as_service_time_rising_with_concurrency(
    dataset: Path, seed: int
) -> None:
    rng = random.Random(seed)
    arrivals = poisson(rng, 2.3, 120)
    served = serve(arrivals, [int(rng.gauss(300, 30) * MS) for _ in arrivals], 1)
    lock_dataset(dataset, served, events=False)
    plan, db = limit_of(dataset, "db")
    where = f"seed {seed}: {db.to_dict()}"
    assert db["workers"] == 1 and db["source"] == "service time", where
    hold = np.mean([s.end - s.begin for s in served]) / MS
    mean = plan.models.set_index("service").loc["db", "mean_service_ms"]
    assert mean == pytest.approx(hold, rel=0.02), where


@pytest.mark.parametrize("workers", [2, 3])
def test_calls_waiting_before_the_span_give_the_pool_size(
    dataset: Path, seed: int, workers: int
) -> None:
    rng = random.Random(seed)
    arrivals = poisson(rng, 0.75 * workers / 0.2, 120)
    served = serve(arrivals, [int(rng.expovariate(1 / 0.2) * 1e6) + MS for _ in arrivals], workers)
    pool_dataset(dataset, served)
    _, pool = limit_of(dataset, "pool")
    where = f"seed {seed}: {pool.to_dict()}"
    assert pool["workers"] == workers and pool["source"] == "queueing", where
    assert pool["confidence"] == "high", where
    assert pool["waits"] == pytest.approx(sum(s.begin > s.arrival for s in served), rel=0.1), where


def test_messages_waiting_in_the_broker_give_the_consumers(dataset: Path, seed: int) -> None:
    rng = random.Random(seed)
    arrivals = poisson(rng, 3.0, 60)
    served = serve(arrivals, [int(rng.gauss(250, 25) * MS) for _ in arrivals], 1)
    broker_dataset(dataset, served)
    plan, crm = limit_of(dataset, "crm")
    where = f"seed {seed}: {crm.to_dict()}"
    assert crm["workers"] == 1 and crm["source"] == "queueing", where
    assert "broker" in crm["evidence"], where
    # arrivals counted when published: 3/s against one consumer of 250 ms, 75% busy
    row = plan.table.set_index("service").loc["crm"]
    assert row["arrivals_per_s"] == pytest.approx(len(served) / 60, rel=0.1), where
    assert plan.first_to_saturate == "crm", where


def test_no_waits_no_limit_and_no_invented_queue(dataset: Path, seed: int) -> None:
    """A pool with more workers than it ever needs: calls never wait, so its limit is unknown
    and the most seen at once is only a lower bound; network jitter is not a wait."""
    rng = random.Random(seed)
    arrivals = poisson(rng, 5.0, 60)
    served = serve(arrivals, [int(rng.expovariate(1 / 0.1) * 1e6) + MS for _ in arrivals], 64)
    rows = []
    for i, s in enumerate(served):
        network = int(rng.expovariate(1 / 0.002) * 1e6)  # jitter, mean 2 ms
        rows.append(span(f"t{i}", "c", None, "web", s.arrival, s.end - s.arrival + network,
                         kind="client"))  # fmt: skip
        rows.append(span(f"t{i}", "p", "c", "pool", s.begin + network // 2, s.end - s.begin))
    write_spans(dataset, [table(rows)], source={"kind": "test"})
    plan, pool = limit_of(dataset, "pool")
    where = f"seed {seed}: {pool.to_dict()}"
    assert pool["source"] == "none seen" and not pool["known"], where
    # the most pool spans open at once, overlaps under 1 ms (at most half a span) not counted
    pool_rows = [r for r in rows if r["service"] == "pool"]
    starts = [r["start_time"] for r in pool_rows]
    ends = [
        r["end_time"] - dt.timedelta(microseconds=min(MS, r["duration_us"] // 2)) for r in pool_rows
    ]
    steps = sorted([(t, 1) for t in starts] + [(t, -1) for t in ends], key=lambda e: (e[0], e[1]))
    level, overlap = 0, 0
    for _, step in steps:
        level += step
        overlap = max(overlap, level)
    assert pool["workers"] == overlap, where
    row = plan.table.set_index("service").loc["pool"]
    assert pd.isna(row["utilization"]) and row["model"] == "none", where
    # the forecast adds no wait of its own: p95 at 1x is the observed one
    assert plan.first_to_saturate is None, where


def test_workers_file_overrides_the_inference(dataset: Path, seed: int) -> None:
    rng = random.Random(seed)
    arrivals = poisson(rng, 2.3, 60)
    served = serve(arrivals, [int(rng.gauss(300, 30) * MS) for _ in arrivals], 1)
    lock_dataset(dataset, served)
    plan = capacity_plan(dataset, [1.0], workers={"db": 4})
    db = plan.limits.set_index("component").loc["db"]
    assert db["workers"] == 4 and db["source"] == "file", f"seed {seed}"


def test_first_to_saturate_names_what_it_cannot_size(dataset: Path, seed: int) -> None:
    """api holds its span while db's lock is busy, and nothing shows api's own limit: with only
    the api spans seen at once it could saturate before db does. The answer must say so, and
    the table may call a component saturated only through a limit it knows."""
    rng = random.Random(seed)
    arrivals = poisson(rng, 2.0, 120)
    served = serve(arrivals, [int(rng.gauss(300, 30) * MS) for _ in arrivals], 1)
    lock_dataset(dataset, served)
    plan = capacity_plan(dataset, [1.0, 2.0, 5.0])
    first = plan.first
    where = f"seed {seed}: {first}"
    assert first is not None and first.component == "db", where
    table = plan.table.set_index(["service", "multiplier"])
    bound = table.loc[("api", 1.0), "saturation_at_least"]
    assert bound > 0, where  # with only the api spans seen at once
    if bound < first.multiplier:
        assert ("api", bound) in [(n, round(m, 4)) for n, m in first.could_be_earlier], where
        assert "api's limit is unknown" in first.sentence and first.sentence in plan.notes, where
    # api waits for db: it saturates with it, and is called saturated only from there on
    assert (
        table.loc[("api", 5.0), "saturated"] and "with db" in table.loc[("api", 5.0), "saturation"]
    )
    saturated = plan.table[plan.table["saturated"]]
    assert set(saturated["service"]) <= {"db", "api"}, where
    assert (saturated["multiplier"] >= first.multiplier * (1 - 1e-9)).all(), where


def busiest_rate(served: list[Served], low: int, high: int, window_us: int) -> float:
    """The arrival rate of the busiest period, by hand: arrivals (us after EPOCH, which begins a
    window of every length used here) counted per window, each divided by the part of its window
    that [low, high) covers; a window of fewer than 50 arrivals is pooled with the adjacent one
    whose load (service seconds, from the lock's acquisition to the end, per covered second) is
    closest to its own (the fewest first; between equals, the one with fewer arrivals, then the
    earlier); windows without arrivals are not pooled at all."""
    counts: dict[int, int] = {}
    busy: dict[int, float] = {}
    for s in served:
        k = s.arrival // window_us
        counts[k] = counts.get(k, 0) + 1
        busy[k] = busy.get(k, 0.0) + (s.end - s.begin) / 1e6
    runs = [[k] for k in sorted(counts)]

    def total(run: list[int]) -> int:
        return sum(counts[k] for k in run)

    def neighbours(i: int) -> list[int]:  # runs of windows that directly follow each other
        before = [i - 1] if i > 0 and runs[i - 1][-1] + 1 == runs[i][0] else []
        after = [i + 1] if i + 1 < len(runs) and runs[i][-1] + 1 == runs[i + 1][0] else []
        return before + after

    def covered_s(k: int) -> float:
        return (min((k + 1) * window_us, high) - max(k * window_us, low)) / 1e6

    def rate(run: list[int]) -> float:
        return total(run) / sum(covered_s(k) for k in run)

    def load(run: list[int]) -> float:
        return sum(busy[k] for k in run) / sum(covered_s(k) for k in run)

    while short := [i for i, run in enumerate(runs) if total(run) < 50 and neighbours(i)]:
        i = min(short, key=lambda i: total(runs[i]))
        j = min(
            neighbours(i), key=lambda j: (abs(load(runs[j]) - load(runs[i])), total(runs[j]), j)
        )
        a, b = min(i, j), max(i, j)
        runs[a : b + 1] = [runs[a] + runs[b]]

    return max(rate(run) for run in runs)


@pytest.mark.parametrize("window", [10, 30, 60, 300, 900])
def test_rates_over_the_time_the_data_covers(dataset: Path, seed: int, window: int) -> None:
    """A 50-second capture inside a 5-minute window: its rate is over 50 s, not 300 (the
    issue's 0.5/s shown where 3.3/s arrived), whatever the window; and the saturation point
    of a steady load does not move with the window. Each window's rate is over the part of it
    the capture covers, and the table gives the busiest period's: with windows shorter than the
    capture that is a part of it, above the capture's average by its Poisson noise."""
    rng = random.Random(seed)
    start = 100 * 1_000_000  # 100 s into the window
    arrivals = [start + t for t in poisson(rng, 3.0, 50)]
    served = serve(arrivals, [int(rng.gauss(200, 20) * MS) for _ in arrivals], 1)
    lock_dataset(dataset, served)
    plan = capacity_plan(dataset, [1.0], window_s=window)
    db = plan.table.set_index("service").loc["db"]
    where = f"seed {seed}, window {window}: {db.to_dict()}"
    # the data covers the api spans: from the first one's start to the last one's end
    low, high = served[0].arrival - 2 * MS, served[-1].end + 2 * MS
    window_us = window * 1_000_000
    observed = plan.windows[plan.windows["service"] == "db"]
    index = sorted({a // window_us for a in arrivals})
    assert list(observed["window_start"]) == [
        EPOCH + dt.timedelta(microseconds=k * window_us) for k in index
    ], where
    assert list(observed["arrivals"]) == [
        sum(a // window_us == k for a in arrivals) for k in index
    ], where
    covered = [(min((k + 1) * window_us, high) - max(k * window_us, low)) / 1e6 for k in index]
    assert list(observed["covered_s"]) == pytest.approx(covered, rel=1e-9), where
    expected = busiest_rate(served, low, high, window_us)
    assert db["arrivals_per_s"] == pytest.approx(expected, abs=1e-6), where
    if window >= 300:  # one window holds the whole capture: its rate is the capture's
        assert db["arrivals_per_s"] == pytest.approx(len(served) / ((high - low) / 1e6)), where
    hold = np.mean([s.end - s.begin for s in served]) / 1e6
    # one lock: saturated when arrivals reach 1 / hold
    assert db["saturation_rate_per_s"] == pytest.approx(1 / hold, rel=0.15), where
