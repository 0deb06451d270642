"""The trace replay and the USL fit on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import drawn
from tracekit.capacity.replay import Replayer
from tracekit.capacity.usl import fit_usl


def chain(n: int = 60) -> pd.DataFrame:
    """n api requests (1 s each) in one 5-minute window, each calling db once (0.5 s, no wait)."""
    window = pd.Timestamp("2026-01-05 10:00:00")
    rows = []
    for i in range(n):
        start = i * 5_000_000
        rows.append(
            {
                "trace_id": f"t{i}",
                "span_id": "a",
                "service": "api",
                "operation": "op",
                "window_start": window,
                "start_us": start,
                "duration_us": 1_000_000,
                "gap_us": None,
                "caller_row": -1,
            }
        )
        rows.append(
            {
                "trace_id": f"t{i}",
                "span_id": "d",
                "service": "db",
                "operation": "op",
                "window_start": window,
                "start_us": start + 100_000,
                "duration_us": 500_000,
                "gap_us": 0,
                "caller_row": 2 * i,
            }
        )
    return pd.DataFrame(rows)


def test_callee_wait_reaches_the_caller() -> None:
    replay = Replayer(chain(), window_s=300)
    assert replay.services == ["api", "db"]
    assert [replay.services[s] for s in replay.order] == ["db", "api"]  # callees first
    # At 2x: db gets 0.4 req/s of constant 0.5 s work on 1 worker: M/D/1 at rho 0.2,
    # Wq = rho S / (2 (1 - rho)) = 0.0625 s, which every api request now holds its worker for.
    result = replay.run(2.0, np.array([1, 1]))
    db, api = replay.services.index("db"), replay.services.index("api")
    assert result.utilization[db][0] == pytest.approx(0.2)
    assert result.mean_wait_s[db][0] == pytest.approx(0.0625)
    assert result.duration_s[replay.by_service[api]] == pytest.approx(1.0625)
    assert result.utilization[api][0] == pytest.approx(0.4 * 1.0625)
    # at 1x nothing changes but the model's wait replacing the observed (zero) one
    same = replay.run(1.0, np.array([10, 10]))
    assert same.duration_s[replay.by_service[api]] == pytest.approx(1.0, abs=1e-6)


def test_sampled_waits_average_to_the_model() -> None:
    replay = Replayer(chain(10_000), window_s=300 * 100)  # db at rho 0.5 on one worker at 3x
    result = replay.run(3.0, np.array([20, 1]), rng=np.random.default_rng(drawn(3)))
    db = replay.services.index("db")
    waits = result.latency_s[replay.by_service[db]] - 0.5
    assert waits.mean() == pytest.approx(result.mean_wait_s[db][0], rel=0.05)


def test_usl_recovers_its_parameters() -> None:
    n = np.linspace(1, 40, 30)
    x = 5 * n / (1 + 0.03 * (n - 1) + 0.0005 * n * (n - 1))
    fit = fit_usl(n, x * (1 + 0.01 * np.sin(n)))  # 1% wiggle
    assert fit.supported and fit.r2 > 0.99
    assert fit.sigma == pytest.approx(0.03, abs=0.01)
    assert fit.kappa == pytest.approx(0.0005, rel=0.3)
    assert fit.peak_concurrency() == pytest.approx(np.sqrt(0.97 / 0.0005), rel=0.2)


def test_usl_needs_a_range_of_concurrency() -> None:
    n = np.full(20, 4.0) + np.linspace(0, 0.5, 20)
    fit = fit_usl(n, n * 2)
    assert not fit.supported and "varies only" in fit.note
    assert not fit_usl(np.array([1.0, 2.0]), np.array([1.0, 2.0])).supported


def fan_out(parallel: bool, n: int = 60) -> pd.DataFrame:
    """n api requests (1 s) each calling db twice (0.5 s each), at once or one after another."""
    window = pd.Timestamp("2026-01-05 10:00:00")
    rows = []
    for i in range(n):
        start = i * 5_000_000
        rows.append(
            {
                "service": "api",
                "operation": "op",
                "window_start": window,
                "start_us": start,
                "duration_us": 1_000_000,
                "gap_us": None,
                "caller_row": -1,
                "call_island": -1,
                "call_end_us": None,
            }
        )
        for k in range(2):
            offset = 100_000 if parallel else 100_000 + k * 500_000
            rows.append(
                {
                    "service": "db",
                    "operation": "op",
                    "window_start": window,
                    "start_us": start + offset,
                    "duration_us": 500_000,
                    "gap_us": 0,
                    "caller_row": 3 * i,
                    "call_island": 2 * i + (0 if parallel else k),
                    "call_end_us": start + offset + 500_000,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("parallel", "added"), [(True, 1 / 6), (False, 2 / 6)])
def test_parallel_calls_delay_the_caller_once(parallel: bool, added: float) -> None:
    # At 2x db gets 0.8 req/s of 0.5 s work on one worker: M/D/1 at rho 0.4 waits
    # 0.4 * 0.5 / (2 * 0.6) = 1/6 s on average. Two calls at once delay api by one wait,
    # two in a row by two.
    replay = Replayer(fan_out(parallel), window_s=300)
    result = replay.run(2.0, np.array([1, 1]))
    db, api = replay.services.index("db"), replay.services.index("api")
    assert result.mean_wait_s[db][0] == pytest.approx(1 / 6)
    assert result.duration_s[replay.by_service[api]] == pytest.approx(1 + added)
