"""When the data hold more spans than the capacity replay fits in its memory budget, it replays
the busiest stretch that fits (tracekit.capacity.stretch): picked by hand-computed cases, and on
two captures of known load hours apart, where the forecast must be the busier capture's."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from tests.cli import run
from tests.test_capacity_limits import lock_dataset, poisson, serve
from tracekit.capacity import capacity_plan
from tracekit.capacity.stretch import (
    MAX_REPLAY_SPANS,
    MIN_REPLAY_SPANS,
    busiest_run,
    replay_span_limit,
    replay_stretch,
)
from tracekit.connect import connect
from tracekit.report.findings import read_findings

MS = 1000
HOUR_US = 3_600 * 1_000_000


@pytest.mark.parametrize(
    ("counts", "limit", "expected"),
    [
        ([1, 5, 9, 2, 7], 16, (1, 3)),  # 9, then 5 (> 2), then 2 (1 and 7 no longer fit)
        ([1, 5, 9, 2, 7], 100, (0, 4)),  # everything fits
        ([1, 5, 9, 2, 7], 9, (2, 2)),  # the busiest hour alone
        ([1, 5, 9, 2, 7], 4, (2, 2)),  # not even it fits: it is still the one replayed
        ([3, 3, 3], 6, (0, 1)),  # of equal hours the first is the peak
        ([8, 1, 1, 1, 9], 12, (1, 4)),  # the quiet hours join; the 8 beyond them does not fit
    ],
)
def test_the_busiest_run_is_grown_towards_the_busier_neighbour(
    counts: list[int], limit: int, expected: tuple[int, int]
) -> None:
    assert busiest_run(np.array(counts), limit) == expected


def test_a_busiest_run_holds_the_peak_fits_and_cannot_grow(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        counts = rng.integers(0, 1000, size=int(rng.integers(1, 60)))
        limit = int(rng.integers(1, 20_000))
        first, last = busiest_run(counts, limit)
        held = int(counts[first : last + 1].sum())
        where = f"seed {seed}: {counts.tolist()} limit {limit} -> {first}..{last}"
        assert first <= int(np.argmax(counts)) <= last, where
        assert held <= limit or first == last, where
        if first > 0:
            assert held + counts[first - 1] > limit, where
        if last + 1 < len(counts):
            assert held + counts[last + 1] > limit, where


@pytest.mark.parametrize(
    ("budget", "spans"),
    [
        ("2GB", (2 * 10**9 - 700 * 10**6) // 1_300),
        ("1GB", (10**9 - 700 * 10**6) // 1_300),
        ("1.8 GiB", int((1.8 * 2**30 - 700 * 10**6) // 1_300)),  # DuckDB's own spelling
        ("100MB", MIN_REPLAY_SPANS),
        ("64GB", MAX_REPLAY_SPANS),
    ],
)
def test_the_span_limit_follows_the_memory_budget(budget: str, spans: int) -> None:
    assert replay_span_limit(budget) == spans


@pytest.fixture
def seed() -> int:
    value = random.randrange(2**32)
    print(f"seed {value}")
    return value


@pytest.fixture
def two_loads(dataset: Path, seed: int) -> tuple[Path, int, float, float]:
    """A quiet capture (1/s for 20 minutes) and, three hours later inside one clock hour, a busy
    one (2.5/s for 30 minutes) of a one-worker lock; two spans a request. Returns the dataset,
    the busy capture's spans, and both captures' arrival rates over the time each covers."""
    rng = random.Random(seed)
    quiet = serve(
        arrivals := [10 * 60 * 10**6 + t for t in poisson(rng, 1.0, 20 * 60)],
        [int(rng.gauss(100, 10) * MS) for _ in arrivals],
        1,
    )
    busy_start = 3 * HOUR_US + 10 * 60 * 10**6
    busy = serve(
        arrivals := [busy_start + t for t in poisson(rng, 2.5, 30 * 60)],
        [int(rng.gauss(200, 20) * MS) for _ in arrivals],
        1,
    )
    assert busy[-1].end < 4 * HOUR_US, f"seed {seed}: the busy capture must end in its hour"
    lock_dataset(dataset, quiet + busy)

    def rate(served):
        return len(served) / ((served[-1].end + 2 * MS - (served[0].arrival - 2 * MS)) / 1e6)

    return dataset, 2 * len(busy), rate(quiet), rate(busy)


def test_the_replay_of_too_much_data_is_the_busier_capture(two_loads, seed: int) -> None:
    dataset, busy_spans, _, busy_rate = two_loads
    con = connect(dataset)
    total = con.execute("SELECT count(*) FROM span_rows").fetchall()[0][0]
    assert replay_stretch(con, limit=total) is None  # everything fits: nothing is left out
    stretch = replay_stretch(con, limit=busy_spans + 10)
    where = f"seed {seed}: {stretch}"
    assert stretch is not None and stretch.spans == busy_spans, where
    assert stretch.total_spans == total and stretch.limit == busy_spans + 10, where
    assert stretch.narrow(con) == (busy_spans, busy_spans // 2)
    plan = capacity_plan(con, [1.0])
    db = plan.table.set_index("service").loc["db"]
    assert db["arrivals_per_s"] == pytest.approx(busy_rate, rel=0.15), where


def test_the_command_forecasts_the_busiest_stretch_and_says_so(two_loads, seed: int) -> None:
    dataset, busy_spans, _, busy_rate = two_loads
    # 100MB of budget holds the fewest spans a replay takes: the busy capture, not both
    assert busy_spans <= MIN_REPLAY_SPANS, f"seed {seed}: {busy_spans} busy spans"
    proc = run(
        "capacity", str(dataset), "--memory-limit", "100MB",
        "--multipliers", "1", "--format", "json",
    )  # fmt: skip
    where = f"seed {seed}: {proc.stderr}"
    assert proc.returncode == 0, where
    assert "note: the data hold" in proc.stderr and f"({busy_spans:,} spans)" in proc.stderr, where
    rows = {row["service"]: row for row in json.loads(proc.stdout)}
    assert rows["db"]["arrivals_per_s"] == pytest.approx(busy_rate, rel=0.15), where
    whole = run("capacity", str(dataset), "--multipliers", "1", "--format", "json")
    assert "note:" not in whole.stderr, whole.stderr  # all of it fits a default budget
    # the busiest period decides the forecast: replaying the stretch keeps it
    everything = {row["service"]: row for row in json.loads(whole.stdout)}["db"]
    assert everything["arrivals_per_s"] == pytest.approx(rows["db"]["arrivals_per_s"]), where


@pytest.mark.parametrize(
    ("share", "replayed"),
    [(1.0, "busiest stretch that fits"), (0.5, "busiest hour, though it alone holds more")],
)
def test_the_report_replays_the_busiest_stretch_and_says_so(
    two_loads, seed: int, tmp_path: Path, share: float, replayed: str
) -> None:
    """Asked to replay as many spans as the busy hour holds, or half as many: the busy hour is
    replayed either way, and the report says which it is."""
    dataset, busy_spans, _, _ = two_loads
    asked = int(busy_spans * share)
    out = tmp_path / "reports"
    proc = run(
        "report", "capacity", "--data", str(dataset), "--out", str(out),
        "-p", "replay_spans", str(asked),
    )  # fmt: skip
    where = f"seed {seed}: {proc.stderr}"
    assert proc.returncode == 0, where
    (notebook,) = out.glob("capacity/*/report.ipynb")
    findings = read_findings(notebook)
    assert findings["spans"] == busy_spans and findings["data_spans"] > busy_spans, findings
    assert findings["window_start"].startswith("2024-03-01T15:00"), findings  # the busy hour
    html = notebook.with_name("report.html").read_text()
    assert "more than the " + f"{asked:,} spans asked for" in html, where
    assert f"this forecast replays their {replayed}, the one a plan" in html, where
