"""Queueing math against hand-computed and textbook values."""

from __future__ import annotations

import heapq
import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import drawn
from tracekit.capacity.queueing import (
    erlang_b,
    erlang_c,
    latency_quantiles,
    wait_model,
    workers_needed,
)
from tracekit.capacity.replay import erlang_c_array, fcfs_waits, residual_waits


def erlang_c_direct(c: int, a: float) -> float:
    """The textbook sum: (a^c/c! * c/(c-a)) / (sum_{k<c} a^k/k! + a^c/c! * c/(c-a))."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize(
    ("c", "a", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1: the utilization
        (2, 1.0, 1 / 3),  # M/M/2: 2 rho^2 / (1 + rho) at rho = 0.5
        (3, 2.0, 4 / 9),  # 3 servers, 2 erlangs
        (5, 4.0, 0.554113),  # 5 agents, 4 erlangs (by hand: B = 0.199067)
        (4, 2.0, 0.173913),  # 4 servers, 2 erlangs: 4/23
    ],
)
def test_erlang_c_textbook_values(c: int, a: float, expected: float) -> None:
    assert erlang_c(c, a) == pytest.approx(expected, abs=1e-6)
    assert erlang_c_array(c, np.array([a]))[0] == pytest.approx(expected, abs=1e-6)


def test_erlang_b_by_hand() -> None:
    # B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2
    assert erlang_b(2, 1.0) == pytest.approx(0.2)


@given(st.integers(1, 30), st.floats(0.01, 0.99))
def test_erlang_c_matches_the_direct_sum(c: int, rho: float) -> None:
    assert erlang_c(c, c * rho) == pytest.approx(erlang_c_direct(c, c * rho), rel=1e-9)


def test_mm1_wait() -> None:
    # lambda 0.5/s, mu 1/s: Wq = rho / (mu - lambda) = 1 s; P(W > t) = rho e^{-(mu-lambda) t}
    model = wait_model(rate=0.5, mean_s=1.0, workers=1, model="M/M/c")
    assert model.utilization == pytest.approx(0.5)
    assert model.mean_wait_s == pytest.approx(1.0)
    assert model.quantile(0.95) == pytest.approx(2 * math.log(10))
    assert model.quantile(0.4) == 0.0  # 60% never wait


def test_mmc_wait() -> None:
    # 3 servers, lambda 2/s, mean 1 s: Wq = C / (c mu - lambda) = (4/9) / 1
    model = wait_model(rate=2.0, mean_s=1.0, workers=3, model="M/M/c")
    assert model.mean_wait_s == pytest.approx(4 / 9)
    assert model.mean_wait_if_waiting_s == pytest.approx(1.0)


def test_md1_is_pollaczek_khinchine() -> None:
    # M/D/1 (cv^2 = 0): Wq = rho S (1 + cv^2) / (2 (1 - rho)) = 0.5 at rho 0.5, S 1 s
    assert wait_model(0.5, 1.0, 1, cv2=0.0).mean_wait_s == pytest.approx(0.5)
    # M/G/1 with cv^2 = 3: twice the M/M/1 wait
    assert wait_model(0.5, 1.0, 1, cv2=3.0).mean_wait_s == pytest.approx(2.0)


def test_saturated() -> None:
    model = wait_model(rate=3.0, mean_s=1.0, workers=3)
    assert model.saturated and math.isinf(model.quantile(0.5))
    assert latency_quantiles(np.array([1.0]), model, (0.95,)) == [math.inf]


def test_latency_quantiles_add_the_wait_to_the_service_time() -> None:
    # Constant 1 s service plus the M/M/1 wait above: p95 = 1 + 2 ln 10; median = 1 (no wait)
    model = wait_model(rate=0.5, mean_s=1.0, workers=1, model="M/M/c")
    p50, p95 = latency_quantiles(np.array([1.0]), model, (0.5, 0.95))
    assert p50 == pytest.approx(1.0, abs=1e-6)
    assert p95 == pytest.approx(1 + 2 * math.log(10), abs=1e-6)


def test_latency_quantiles_match_sampling() -> None:
    rng = np.random.default_rng(drawn(1))
    service = rng.gamma(4.0, 0.25, 2000)
    model = wait_model(rate=1.5, mean_s=1.0, workers=2, cv2=0.25)
    exact = latency_quantiles(service, model, (0.5, 0.95))
    draws = rng.choice(service, 400_000) + model.sample(rng, 400_000)
    assert exact == pytest.approx(np.quantile(draws, [0.5, 0.95]), rel=0.01)


def test_workers_needed_by_hand() -> None:
    # lambda 2/s, constant 1 s, M/M/c waits; p95 of 1 s + W must stay under 1.5 s:
    # c=4: C = 4/23, P(W > t) = C e^{-2t} -> p95 W = 0.62 s (too slow);
    # c=5: C = 0.0597, P(W > t) = C e^{-3t} -> p95 W = 0.059 s.
    assert workers_needed(2.0, np.array([1.0]), 1.5, model="M/M/c") == 5
    assert workers_needed(2.0, np.array([1.0]), 0.9) is None  # the work alone is too slow


def test_fcfs_waits_against_a_plain_simulation() -> None:
    seed = random.randrange(2**32)
    rng = np.random.default_rng(seed)
    at = np.sort(rng.random(400) * 100.0)
    work = rng.exponential(0.6, 400)
    work[rng.random(400) < 0.1] = 0.0  # probes: they look at the queue, add no work
    for workers in (1, 3):
        free = [0.0] * workers
        expected = []
        for t, w in zip(at, work, strict=True):
            begin = max(t, free[0])
            expected.append(begin - t)
            if w > 0:
                heapq.heapreplace(free, begin + w)
        shuffled = rng.permutation(400)  # arrival order is the function's business
        got = np.empty(400)
        got[shuffled] = fcfs_waits(at[shuffled], work[shuffled], workers)
        assert got == pytest.approx(np.array(expected), abs=1e-9), f"seed {seed}, {workers}"


@pytest.mark.parametrize(("workers", "cv2"), [(1, 0.01), (1, 1.0), (4, 1.0), (2, 0.25)])
def test_residual_waits_are_pollaczek_khinchine(workers: int, cv2: float) -> None:
    """The M/G/c draws: for one worker the M/G/1 waiting time (mean by Pollaczek-Khinchine,
    tail against a direct simulation of the queue); for exponential service M/M/c's (Erlang C
    and an exponential wait of rate c mu - lambda); in between the Allen-Cunneen mean."""
    seed = random.randrange(2**32)
    rng = np.random.default_rng(seed)
    mean, rho, n = 0.3, 0.75, 400_000
    shape = 1.0 / cv2
    service = rng.gamma(shape, mean / shape, 20_000)
    rate = rho * workers / service.mean()
    prob = erlang_c(workers, rate * service.mean())
    waits = residual_waits(np.full(n, prob), np.full(n, rho), service, workers, rng)
    model = wait_model(rate, service.mean(), workers, float(service.var() / service.mean() ** 2))
    assert waits.mean() == pytest.approx(model.mean_wait_s, rel=0.03), f"seed {seed}"
    if workers == 1 or cv2 == 1.0:
        # a direct first-come-first-served simulation of the same queue, four times as long:
        # its waits follow one another, so its p95 is noisier than the independent draws' (over
        # 40 seeds of n requests it was off by up to 4.6%, sd 1.1-1.9%; of 4n, up to 2.4%, sd
        # 0.6-1.0%, well inside the 5% asked)
        arrivals = np.cumsum(rng.exponential(1.0 / rate, 4 * n))
        direct = fcfs_waits(arrivals, rng.choice(service, 4 * n), workers)[4 * n // 10 :]
        assert np.quantile(waits, 0.95) == pytest.approx(np.quantile(direct, 0.95), rel=0.05), (
            f"seed {seed}"
        )
